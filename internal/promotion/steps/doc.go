// Package steps holds Caravan's built-in promotion steps: one file per step,
// each implementing promotion.Step with Kargo's step name, config keys,
// defaults and outputs.
//
// Steps are built by their constructors (NewCopy, NewHTTP, NewSetMetadata …)
// with the narrow dependencies they need, and registered explicitly by the
// wiring code with promotion.NewRegistry; nothing registers itself.
//
// Every step resolves the paths its config names with promotion.SecurePath,
// so neither "../" nor a symlink leads outside the promotion's workspace.
// The engine evaluates expressions in a step's config and validates it
// against the step's JSON schema before the step runs; a step decodes the
// result and checks what a schema cannot express. Errors that retrying
// cannot fix are marked with retry.Terminal; their messages name the config
// field at fault and say how to correct it, and never carry secrets (header
// values, query parameters, credentials).
//
// Steps are idempotent: running one again with the same config and
// workspace leaves the same result, so a promotion resumed after a restart
// can run its current step again safely.
package steps
