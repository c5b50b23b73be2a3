package cli

import (
	"strings"
	"testing"
)

func TestResolveKind(t *testing.T) {
	for name, want := range map[string]string{
		"stage": "Stage", "Stages": "Stage", "STAGE": "Stage",
		"promo": "Promotion", "promos": "Promotion", "promotasks": "PromotionTask",
		"clusterpromotask": "ClusterPromotionTask", "freight": "Freight", "freights": "Freight",
		"cm": "ConfigMap", "events": "Event", "analysisruns": "AnalysisRun",
	} {
		info, err := resolveKind(name)
		if err != nil || info.Kind != want {
			t.Errorf("resolveKind(%q) = %v, %v; want %s", name, info, err, want)
		}
	}
	_, err := resolveKind("stagez")
	if err == nil || !strings.Contains(err.Error(), `unknown kind "stagez"`) || !strings.Contains(err.Error(), "warehouses") {
		t.Errorf("unknown kind: err = %v", err)
	}
}

func TestNamespaceFor(t *testing.T) {
	stage, _ := resolveKind("stage")
	if _, err := namespaceFor(stage, ""); err == nil || !strings.Contains(err.Error(), "--project") {
		t.Errorf("stage without project: err = %v", err)
	}
	if ns, err := namespaceFor(stage, "demo"); err != nil || ns != "demo" {
		t.Errorf("stage with project: %q, %v", ns, err)
	}
	project, _ := resolveKind("project")
	if ns, err := namespaceFor(project, "ignored"); err != nil || ns != "" {
		t.Errorf("project: %q, %v", ns, err)
	}
}

func TestRef(t *testing.T) {
	for _, tt := range [][3]string{
		{"Stage", "dev", "stage/dev"},
		{"ClusterPromotionTask", "x", "clusterpromotiontask/x"},
		{"Unknown", "y", "unknown/y"},
	} {
		if got := ref(tt[0], tt[1]); got != tt[2] {
			t.Errorf("ref(%s, %s) = %s, want %s", tt[0], tt[1], got, tt[2])
		}
	}
}
