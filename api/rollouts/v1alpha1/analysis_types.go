package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=at

// AnalysisTemplate is a reusable set of metrics, with arguments, from which
// AnalysisRuns are made.
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the template.
	Spec AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AnalysisTemplateList is a list of AnalysisTemplates.
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cat

// ClusterAnalysisTemplate is an AnalysisTemplate usable from any namespace.
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the template.
	Spec AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}

// AnalysisTemplateSpec is the body of an (Cluster)AnalysisTemplate.
type AnalysisTemplateSpec struct {
	// Metrics are measured by every run made from the template.
	Metrics []Metric `json:"metrics"`
	// Args are the template's arguments; {{args.NAME}} in any string of a
	// metric is replaced by the argument's value.
	Args []Argument `json:"args,omitempty"`
	// DryRun lists metrics whose failures do not fail the run.
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements to keep per metric.
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
}

// DurationString is a Go duration such as 30s, 5m or 1h.
type DurationString string

// Duration parses the string.
func (d DurationString) Duration() (time.Duration, error) {
	return time.ParseDuration(string(d))
}

// Metric is one measurement repeated over the run.
type Metric struct {
	// Name identifies the metric within the run.
	Name string `json:"name"`
	// Interval is the time between measurements; absent means measure once
	// (or count times back to back).
	Interval DurationString `json:"interval,omitempty"`
	// InitialDelay is how long to wait before the first measurement.
	InitialDelay DurationString `json:"initialDelay,omitempty"`
	// Count is how many measurements to take; absent means 1 without an
	// interval and unbounded with one.
	Count *intstr.IntOrString `json:"count,omitempty"`
	// SuccessCondition is an expr expression over result that marks a
	// measurement successful.
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expr expression over result that marks a
	// measurement failed.
	FailureCondition string `json:"failureCondition,omitempty"`
	// FailureLimit is how many failed measurements are tolerated; absent
	// means 0. -1 disables the limit.
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many inconclusive measurements are tolerated;
	// absent means 0.
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many errors in a row are tolerated; absent
	// means 4.
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	// ConsecutiveSuccessLimit is how many successes in a row end the metric
	// successfully; absent means the limit is not used.
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`
	// Provider is where the measurement comes from.
	Provider MetricProvider `json:"provider"`
}

// DefaultConsecutiveErrorLimit applies when consecutiveErrorLimit is absent.
const DefaultConsecutiveErrorLimit = 4

// MetricProvider is where a metric's measurements come from; exactly one
// field is set. Caravan runs web and prometheus; the rest are kept as raw
// JSON and reported as unsupported when run.
type MetricProvider struct {
	// Web measures with an HTTP request.
	Web *WebMetric `json:"web,omitempty"`
	// Prometheus measures with a PromQL query.
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// Job measures with a Kubernetes Job.
	Job *RawJSON `json:"job,omitempty"`
	// Kayenta measures with Kayenta canary analysis.
	Kayenta *RawJSON `json:"kayenta,omitempty"`
	// Datadog measures with a Datadog query.
	Datadog *RawJSON `json:"datadog,omitempty"`
	// NewRelic measures with a New Relic query.
	NewRelic *RawJSON `json:"newRelic,omitempty"`
	// Wavefront measures with a Wavefront query.
	Wavefront *RawJSON `json:"wavefront,omitempty"`
	// CloudWatch measures with Amazon CloudWatch.
	CloudWatch *RawJSON `json:"cloudWatch,omitempty"`
	// Graphite measures with a Graphite query.
	Graphite *RawJSON `json:"graphite,omitempty"`
	// Influxdb measures with an InfluxDB query.
	Influxdb *RawJSON `json:"influxdb,omitempty"`
	// SkyWalking measures with Apache SkyWalking.
	SkyWalking *RawJSON `json:"skywalking,omitempty"`
	// Plugin measures with a Rollouts metric plugin, keyed by plugin name.
	Plugin *RawJSON `json:"plugin,omitempty"`
}

// WebMetricMethod is the HTTP method of a web metric.
type WebMetricMethod string

// Web metric methods.
const (
	WebMetricMethodGet  WebMetricMethod = "GET"
	WebMetricMethodPost WebMetricMethod = "POST"
	WebMetricMethodPut  WebMetricMethod = "PUT"
)

// DefaultWebTimeoutSeconds applies when timeoutSeconds is absent or 0.
const DefaultWebTimeoutSeconds = 10

// WebMetric measures by calling a URL and reading its JSON response.
type WebMetric struct {
	// Method is GET (the default), POST or PUT.
	Method WebMetricMethod `json:"method,omitempty"`
	// URL is the address called.
	URL string `json:"url"`
	// Headers are sent with the request.
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// Body is sent with POST and PUT; exclusive with JSONBody.
	Body string `json:"body,omitempty"`
	// TimeoutSeconds bounds the request; absent or 0 means 10.
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// JSONPath selects the result from the response, in Kubernetes JSONPath
	// form such as {$.p99}.
	JSONPath string `json:"jsonPath,omitempty"`
	// Insecure skips TLS certificate verification.
	Insecure bool `json:"insecure,omitempty"`
	// JSONBody is a JSON body sent with POST and PUT; exclusive with Body.
	JSONBody *RawJSON `json:"jsonBody,omitempty"`
	// Authentication authenticates the request.
	Authentication *Authentication `json:"authentication,omitempty"`
}

// WebMetricHeader is one HTTP header.
type WebMetricHeader struct {
	// Key is the header name.
	Key string `json:"key"`
	// Value is the header value.
	Value string `json:"value"`
}

// PrometheusMetric measures with a PromQL instant query.
type PrometheusMetric struct {
	// Address is the Prometheus server's URL.
	Address string `json:"address,omitempty"`
	// Query is the PromQL query.
	Query string `json:"query,omitempty"`
	// Authentication authenticates the request.
	Authentication Authentication `json:"authentication,omitempty"`
	// Timeout bounds the query, in seconds; absent means the client default.
	Timeout *int64 `json:"timeout,omitempty"`
	// Insecure skips TLS certificate verification.
	Insecure bool `json:"insecure,omitempty"`
	// Headers are sent with the request.
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// RangeQuery runs the query over a time range instead of an instant.
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
}

// PrometheusRangeQueryArgs are the bounds of a range query; each may be an
// expr expression over now().
type PrometheusRangeQueryArgs struct {
	// Start is the start of the range.
	Start string `json:"start,omitempty"`
	// End is the end of the range.
	End string `json:"end,omitempty"`
	// Step is the resolution of the range.
	Step string `json:"step,omitempty"`
}

// Authentication is how a provider authenticates its requests.
type Authentication struct {
	// Sigv4 signs requests with AWS Signature Version 4.
	Sigv4 Sigv4Config `json:"sigv4,omitempty"`
	// OAuth2 obtains a bearer token with the client-credentials flow.
	OAuth2 OAuth2Config `json:"oauth2,omitempty"`
}

// Sigv4Config configures AWS Signature Version 4 signing.
type Sigv4Config struct {
	// Region is the AWS region.
	Region string `json:"region,omitempty"`
	// Profile is the AWS credentials profile.
	Profile string `json:"profile,omitempty"`
	// RoleARN is a role to assume.
	RoleARN string `json:"roleArn,omitempty"`
}

// OAuth2Config configures the OAuth2 client-credentials flow.
type OAuth2Config struct {
	// TokenURL is the token endpoint.
	TokenURL string `json:"tokenUrl,omitempty"`
	// ClientID is the client's ID.
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret is the client's secret.
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes are the scopes requested.
	Scopes []string `json:"scopes,omitempty"`
}

// Argument is an argument of a template or run.
type Argument struct {
	// Name is the argument's name.
	Name string `json:"name"`
	// Value is the argument's value; absent means it must be supplied (in a
	// template) or comes from ValueFrom.
	Value *string `json:"value,omitempty"`
	// ValueFrom reads the value from a Secret or a field.
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom is where an argument's value comes from.
type ValueFrom struct {
	// SecretKeyRef reads one key of a Secret.
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// FieldRef reads a field of the owning object.
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef names one key of a Secret.
type SecretKeyRef struct {
	// Name is the Secret's name.
	Name string `json:"name"`
	// Key is the key within the Secret.
	Key string `json:"key"`
}

// FieldRef names a field by path.
type FieldRef struct {
	// FieldPath is the path of the field, e.g. metadata.labels['x'].
	FieldPath string `json:"fieldPath"`
}

// DryRun marks metrics, by name or regular expression, as dry-run.
type DryRun struct {
	// MetricName is a metric name or a regular expression.
	MetricName string `json:"metricName"`
}

// MeasurementRetention keeps a number of measurements for matching metrics.
type MeasurementRetention struct {
	// MetricName is a metric name or a regular expression.
	MetricName string `json:"metricName"`
	// Limit is how many measurements to keep.
	Limit int32 `json:"limit"`
}

// AnalysisPhase is the state of a run, a metric or a measurement.
type AnalysisPhase string

// Analysis phases.
const (
	AnalysisPhasePending      AnalysisPhase = "Pending"
	AnalysisPhaseRunning      AnalysisPhase = "Running"
	AnalysisPhaseSuccessful   AnalysisPhase = "Successful"
	AnalysisPhaseFailed       AnalysisPhase = "Failed"
	AnalysisPhaseError        AnalysisPhase = "Error"
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// Completed reports whether the phase is final.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ar
// +kubebuilder:printcolumn:name=Status,type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// AnalysisRun is one execution of a set of metrics.
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is what the run measures.
	Spec AnalysisRunSpec `json:"spec"`
	// Status is the run's progress and results.
	Status AnalysisRunStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AnalysisRunList is a list of AnalysisRuns.
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

// AnalysisRunSpec is what a run measures.
type AnalysisRunSpec struct {
	// Metrics are the run's metrics, arguments already substituted.
	Metrics []Metric `json:"metrics"`
	// Args are the run's argument values.
	Args []Argument `json:"args,omitempty"`
	// Terminate stops the run early.
	Terminate bool `json:"terminate,omitempty"`
	// DryRun lists metrics whose failures do not fail the run.
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements to keep per metric.
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// TTLStrategy deletes the run some time after it completes.
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy is when a completed run is deleted.
type TTLStrategy struct {
	// SecondsAfterCompletion applies whatever the outcome.
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`
	// SecondsAfterFailure applies when the run failed.
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`
	// SecondsAfterSuccess applies when the run succeeded.
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// AnalysisRunStatus is a run's progress and results.
type AnalysisRunStatus struct {
	// Phase is the run's state.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// MetricResults has one entry per metric.
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// StartedAt is when the run started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// CompletedAt is when the run finished.
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// RunSummary counts the metrics by outcome.
	RunSummary RunSummary `json:"runSummary,omitempty"`
	// DryRunSummary counts the dry-run metrics by outcome.
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`
}

// RunSummary counts metrics by outcome.
type RunSummary struct {
	// Count is the number of metrics.
	Count int32 `json:"count,omitempty"`
	// Successful is the number of successful metrics.
	Successful int32 `json:"successful,omitempty"`
	// Failed is the number of failed metrics.
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive is the number of inconclusive metrics.
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error is the number of metrics that errored.
	Error int32 `json:"error,omitempty"`
}

// MetricResult is the results of one metric.
type MetricResult struct {
	// Name is the metric's name.
	Name string `json:"name"`
	// Phase is the metric's overall state.
	Phase AnalysisPhase `json:"phase"`
	// Measurements are the retained measurements, oldest first.
	Measurements []Measurement `json:"measurements,omitempty"`
	// Message explains the phase, e.g. an error.
	Message string `json:"message,omitempty"`
	// Count is the number of measurements taken without error.
	Count int32 `json:"count,omitempty"`
	// Successful is the number of successful measurements.
	Successful int32 `json:"successful,omitempty"`
	// Failed is the number of failed measurements.
	Failed int32 `json:"failed,omitempty"`
	// Inconclusive is the number of inconclusive measurements.
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// Error is the number of measurements that errored.
	Error int32 `json:"error,omitempty"`
	// ConsecutiveError is the number of errors in a row so far.
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// ConsecutiveSuccess is the number of successes in a row so far.
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`
	// DryRun is true when the metric's outcome does not count.
	DryRun bool `json:"dryRun,omitempty"`
	// Metadata is provider-specific information about the metric.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Measurement is one measured value.
type Measurement struct {
	// Phase is the measurement's outcome.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the outcome, e.g. an error.
	Message string `json:"message,omitempty"`
	// StartedAt is when the measurement started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the value was collected.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Value is the measured value as text.
	Value string `json:"value,omitempty"`
	// Metadata is provider-specific information about the measurement.
	Metadata map[string]string `json:"metadata,omitempty"`
	// ResumeAt is when to resume a measurement in progress.
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}
