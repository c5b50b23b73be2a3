// Package analysis runs Argo Rollouts AnalysisRuns: Caravan's verification
// engine. It is a domain engine (DESIGN.md §2): it imports neither the store
// nor a Kubernetes client, takes plain objects and returns results, and the
// verification reconciler adapts between it and the store.
//
// # Building a run
//
// BuildRun merges AnalysisTemplates and ClusterAnalysisTemplates into one
// AnalysisRunSpec as Argo Rollouts does: metrics (whose names must be unique
// across the templates), arguments (template defaults, then the caller's
// values), dryRun and measurementRetention rules. Every {{args.NAME}}
// placeholder in any string of a metric — url, headers, query, body,
// jsonBody, conditions, even count or interval — is replaced by the
// argument's value. Placeholders of arguments read from Secrets
// (valueFrom.secretKeyRef) are kept: their values are read only when a
// measurement is taken, through Options.Secrets, so they are never stored
// in the run.
//
// # Running a run
//
// Runner.Reconcile advances a run by one step, as Argo Rollouts' analysis
// controller does on each reconciliation: it takes every measurement that
// is due (initialDelay, interval, count, a 10 s retry after an error),
// evaluates successCondition and failureCondition over the measured value
// (expr-lang, with Rollouts' helpers asInt, asFloat, isNaN, isInf, isNil
// and default), counts the outcomes, applies failureLimit,
// inconclusiveLimit, consecutiveErrorLimit and consecutiveSuccessLimit,
// trims the measurement history, and computes each metric's phase and the
// run's phase, message, runSummary and dryRunSummary. It returns how long
// until the next measurement is due, or 0 once the run has completed.
//
// A run whose spec.terminate is set (Kargo sets it to abort a verification)
// takes no more measurements and completes: Successful with the message
// "Run Terminated" unless a metric had already failed.
//
// # Providers
//
// The web provider calls a URL and reads its JSON response, selecting the
// result with a Kubernetes JSONPath such as {$.p99}; the prometheus provider
// runs an instant query, whose vector result is a list of numbers (conditions
// read result[0]) and whose scalar result is a number. Other Rollouts
// providers (job, datadog, newRelic, …, plugin) are accepted by admission but
// not executed: a metric using one completes with phase Error and the message
// "provider X is not supported by Caravan: supported providers are web and
// prometheus".
//
// # Secrets
//
// Secret argument values never reach the run's spec, logs, measurement
// values, metadata or messages: wherever a provider's answer or error would
// repeat one, it is replaced by "*****", as Argo Rollouts does.
package analysis
