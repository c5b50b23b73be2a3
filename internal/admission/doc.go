// Package admission is Caravan's defaulting and validation of every write,
// the equivalent of Kargo's admission webhooks plus the stricter rules of
// DESIGN.md §1. It runs for the HTTP API and for controllers alike: New wraps
// a store.Store so that Create, Update and Delete are admitted before the
// wrapped store commits them; reads, and UpdateStatus (status is free-form
// and written only by the server), pass through.
//
// Admission of one write, in order:
//
//  1. The object's kind and apiVersion are checked, and a missing name is
//     generated from metadata.generateName.
//  2. Namespaces: a namespaced object is created only in the namespace of an
//     existing Project that is not being deleted, except Secrets and
//     ConfigMaps in the reserved shared and system namespaces (Options).
//  3. The typed parts of the object (everything but status) are decoded
//     strictly: an unknown or misspelled field is a 400 BadRequest naming its
//     path. Free-form fields (step config, Target params, a generic
//     subscription's config, analysis providers Caravan does not run) are
//     kept exactly as written.
//  4. Defaults are applied; the pure field validators of the api packages
//     and kube-apiserver's metadata checks run; their errors are one 422
//     Invalid whose details list one cause per field.
//  5. Checks across objects run through a narrow Lookup (the Stage and
//     Freight a Promotion names, a Freight's Warehouse, alias uniqueness,
//     Freight in use), and server-computed fields are set (Promotion and
//     Freight names, Freight aliases, the create-actor annotation, the
//     actor in abort and reverify requests).
//  6. The defaulted object is written back: its typed parts re-encoded,
//     status and the metadata admission does not manage kept as given.
//
// An update that leaves the desired state (spec, or Freight's top-level
// fields) unchanged is not re-validated, as kube-apiserver ratchets CRD
// validation: a controller can always remove its finalizer from an object
// admitted under older rules.
//
// Admitter carries the same logic without a store, for dry runs (apply
// compares a defaulted manifest with what is stored) and, in Kubernetes mode,
// for admission webhooks.
package admission
