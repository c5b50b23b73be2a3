// Package pipeline holds the rules that link Stages into a pipeline, as Kargo
// defines them: which Freight is available to a Stage, which Freight
// auto-promotion would pick, whether a Project's promotion policies enable
// auto-promotion, when a hold or an earlier Promotion stops it, and how
// Freight status records where Freight is, was verified and was approved.
//
// Everything here is a pure function over the api/v1alpha1 types: no store,
// no clock, no I/O. The Stage reconciler and admission call the same
// functions, so the answer to "may this Freight go to that Stage?" and the
// sentence that explains a "no" (DESIGN.md §7, "blocked because") are
// computed by the same code. Every function that depends on time takes the
// current time as a now parameter.
//
// # Availability
//
// Freight is available to a Stage (Availability) when the Stage requests
// Freight of its origin and, for that request, at least one of these holds:
//
//   - sources.direct is true: Freight comes straight from the Warehouse;
//   - the Freight is verified in the upstream sources.stages — any one of them
//     with availabilityStrategy OneOf (the default), every one with All — and,
//     when requiredSoakTime is set, has soaked that long in each of those
//     Stages;
//   - a user approved the Freight for the Stage (status.approvedFor), which
//     also waives the soak time.
//
// Soak is Kargo's "longest soak": the longest uninterrupted time the Freight
// was in use by the Stage (verifiedIn[stage].longestSoak, recorded when it
// leaves), or the time since it entered (currentlyIn[stage].since) while it is
// still there, whichever is longer; Freight not verified in a Stage has not
// soaked there at all.
//
// # Freight status
//
// RecordCurrentlyIn, ClearCurrentlyIn (or SyncCurrentlyIn, which applies
// both from a Stage's current freight collection), RecordVerified and
// RecordApproved update a Freight's status.currentlyIn, verifiedIn and
// approvedFor as Kargo does; VerifiedIn, CurrentlyIn, ApprovedFor and
// LongestSoak read them.
//
// # Auto-promotion
//
// AutoPromotionEnabled applies the ProjectConfig's promotionPolicies: the
// first policy (in order) whose stage, or stageSelector name and labels,
// selects the Stage decides. Candidate picks the Freight of one origin that
// auto-promotion would promote: the newest available one (NewestFreight, the
// default) or the one the single upstream Stage uses (MatchUpstream).
// ShouldAutoPromote combines both with holds (a user promoted something other
// than the candidate; see ApplyManualPromotion) and with the Stage's earlier
// Promotions (a Freight whose Promotion failed is not retried).
//
// # Control flow
//
// A Stage without promotion steps (IsControlFlow) promotes nothing: Freight
// available to it becomes verified in it at once (PassThrough), so it flows on
// to the Stages downstream (Downstream).
package pipeline
