// Package controller runs Caravan's reconcilers: the loops that make the
// world match what the store says (discover artifacts for Warehouses, run
// Promotions, verify Stages).
//
// Every controller has one shape. A Reconciler is handed the Key of one
// object and brings it one step closer to its desired state, as an ordered
// list of named sub-steps ending in one status write. A Runner feeds it: a
// client-go informer over the store (store.NewListWatch) turns the changes
// of one kind into keys on a rate-limited work queue, and a few workers take
// keys off the queue and call Reconcile, one key at a time per key. What
// happens next is decided in one place, Runner.handle, from the error's kind
// (package retry):
//
//   - nil: done; Result.RequeueAfter > 0 schedules the next pass.
//   - retry.IsTerminal: the reconciler recorded why it cannot progress (an
//     invalid spec); the key waits until the object changes.
//   - retry.Delay: the key comes back after exactly that delay.
//   - a Conflict (apierrors.IsConflict): someone wrote the object meanwhile;
//     the key is reconciled again at once, from the newer version.
//   - anything else, a panic included: the key comes back with the queue's
//     exponential backoff, never later than Result.RequeueAfter when the
//     reconciler set one (so a Warehouse that fails still polls at least
//     every interval).
//
// A Manager starts several Runners and stops them when its context ends.
// Reconcilers read and write through the same admission-wrapped store as
// the HTTP API, with identity.Controller as the actor in their context, and
// they assume nothing beyond the store contract, so they run unchanged over
// a Kubernetes backend.
package controller
