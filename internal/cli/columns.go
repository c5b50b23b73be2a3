package cli

// column is one printer column of a table: a header and a JSONPath into the
// object, as in a CRD's additionalPrinterColumns.
type column struct {
	header string
	path   string
	// date columns render as an age ("5m", "3d2h"), like kubectl.
	date bool
}

var (
	ageColumn    = column{header: "AGE", path: "{.metadata.creationTimestamp}", date: true}
	readyColumns = []column{
		{header: "READY", path: `{.status.conditions[?(@.type=="Ready")].status}`},
		{header: "STATUS", path: `{.status.conditions[?(@.type=="Ready")].message}`},
		ageColumn,
	}
)

// printerColumns are the table columns after NAME, per kind: the printer
// columns of Kargo's CRDs (and Argo Rollouts' for analysis kinds) at the
// reference version. Secrets, ConfigMaps and Events use kubectl's columns and
// are handled in table.go.
var printerColumns = map[string][]column{
	"Project":       readyColumns,
	"ProjectConfig": readyColumns,
	"ClusterConfig": readyColumns,
	"Target":        readyColumns,
	"Warehouse": {
		{header: "SHARD", path: "{.spec.shard}"},
		ageColumn,
	},
	"Stage": {
		{header: "SHARD", path: "{.spec.shard}"},
		{header: "CURRENT FREIGHT", path: "{.status.freightSummary}"},
		{header: "HEALTH", path: "{.status.health.status}"},
		{header: "READY", path: `{.status.conditions[?(@.type=="Ready")].status}`},
		{header: "STATUS", path: `{.status.conditions[?(@.type=="Ready")].message}`},
		ageColumn,
	},
	"Freight": {
		{header: "ALIAS", path: `{.metadata.labels.kargo\.akuity\.io/alias}`},
		{header: "ORIGIN (KIND)", path: "{.origin.kind}"},
		{header: "ORIGIN (NAME)", path: "{.origin.name}"},
		ageColumn,
	},
	"Promotion": {
		{header: "SHARD", path: `{.metadata.labels.kargo\.akuity\.io/shard}`},
		{header: "STAGE", path: "{.spec.stage}"},
		{header: "FREIGHT", path: "{.spec.freight}"},
		{header: "PHASE", path: "{.status.phase}"},
		ageColumn,
	},
	"PromotionRequest": {
		{header: "STAGE", path: "{.spec.stage}"},
		{header: "FREIGHT", path: "{.spec.freight}"},
		{header: "PHASE", path: "{.status.phase}"},
		ageColumn,
	},
	"PromotionTask":           {ageColumn},
	"ClusterPromotionTask":    {ageColumn},
	"AnalysisTemplate":        {ageColumn},
	"ClusterAnalysisTemplate": {ageColumn},
	"AnalysisRun": {
		{header: "STATUS", path: "{.status.phase}"},
		ageColumn,
	},
}
