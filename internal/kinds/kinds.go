// Package kinds is the catalogue of every resource kind Caravan serves: its
// API group and version, its REST resource name, the names the CLI accepts
// for it, and the storage traits (scope, status subresource, generation) that
// the store, admission and the HTTP API share.
package kinds

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// API groups served by Caravan.
const (
	KargoGroup    = "kargo.akuity.io"
	RolloutsGroup = "argoproj.io"
	CoreGroup     = ""
	V1alpha1      = "v1alpha1"
	V1            = "v1"
)

// Reserved namespaces for shared Secrets and ConfigMaps (DESIGN.md §2).
const (
	// SharedResourcesNamespace holds Secrets and ConfigMaps every project may read.
	SharedResourcesNamespace = "kargo-shared-resources"
	// SystemResourcesNamespace holds Secrets and ConfigMaps referenced by
	// cluster-scoped objects; projects may not read it.
	SystemResourcesNamespace = "kargo-system-resources"
)

// Info describes one kind.
type Info struct {
	Group      string
	Version    string
	Kind       string
	Resource   string // lowercase plural used in REST paths, e.g. "stages"
	Singular   string // lowercase singular, e.g. "stage"
	ShortNames []string

	// Namespaced kinds live in a project's namespace; the others are cluster-scoped.
	Namespaced bool
	// HasStatus means status is written only through the /status subresource.
	HasStatus bool
	// HasGeneration means metadata.generation is kept and bumped when the
	// object's desired state changes.
	HasGeneration bool
	// TopLevelSpec means the desired state is every top-level field except
	// apiVersion, kind, metadata and status (Freight), rather than spec.
	TopLevelSpec bool
	// ServerNamed means the server computes the object's name on create
	// (Promotion, Freight), so a create without a name is accepted.
	ServerNamed bool
	// OwnsNamespace means an object of this kind owns the namespace of the
	// same name: deleting it deletes everything in that namespace (Project).
	OwnsNamespace bool
}

// APIVersion returns "group/version", or "version" for the core group.
func (i *Info) APIVersion() string {
	if i.Group == "" {
		return i.Version
	}
	return i.Group + "/" + i.Version
}

// GroupVersionKind returns the kind's GVK.
func (i *Info) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: i.Group, Version: i.Version, Kind: i.Kind}
}

// GroupVersionResource returns the kind's GVR.
func (i *Info) GroupVersionResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: i.Group, Version: i.Version, Resource: i.Resource}
}

// ListKind returns the kind name of a list of this kind, e.g. "StageList".
func (i *Info) ListKind() string { return i.Kind + "List" }

var all = []*Info{
	{Group: KargoGroup, Version: V1alpha1, Kind: "Project", Resource: "projects", Singular: "project",
		HasStatus: true, HasGeneration: true, OwnsNamespace: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "ProjectConfig", Resource: "projectconfigs", Singular: "projectconfig",
		Namespaced: true, HasStatus: true, HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "ClusterConfig", Resource: "clusterconfigs", Singular: "clusterconfig",
		HasStatus: true, HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "Warehouse", Resource: "warehouses", Singular: "warehouse",
		Namespaced: true, HasStatus: true, HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "Freight", Resource: "freights", Singular: "freight",
		Namespaced: true, HasStatus: true, HasGeneration: true, TopLevelSpec: true, ServerNamed: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "Stage", Resource: "stages", Singular: "stage",
		Namespaced: true, HasStatus: true, HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "Promotion", Resource: "promotions", Singular: "promotion",
		ShortNames: []string{"promo", "promos"},
		Namespaced: true, HasStatus: true, HasGeneration: true, ServerNamed: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "PromotionTask", Resource: "promotiontasks", Singular: "promotiontask",
		ShortNames: []string{"promotask", "promotasks"},
		Namespaced: true, HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "ClusterPromotionTask", Resource: "clusterpromotiontasks", Singular: "clusterpromotiontask",
		ShortNames:    []string{"clusterpromotask", "clusterpromotasks"},
		HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "Target", Resource: "targets", Singular: "target",
		Namespaced: true, HasStatus: true, HasGeneration: true},
	{Group: KargoGroup, Version: V1alpha1, Kind: "PromotionRequest", Resource: "promotionrequests", Singular: "promotionrequest",
		Namespaced: true, HasStatus: true, HasGeneration: true},
	{Group: RolloutsGroup, Version: V1alpha1, Kind: "AnalysisTemplate", Resource: "analysistemplates", Singular: "analysistemplate",
		Namespaced: true, HasGeneration: true},
	{Group: RolloutsGroup, Version: V1alpha1, Kind: "ClusterAnalysisTemplate", Resource: "clusteranalysistemplates", Singular: "clusteranalysistemplate",
		HasGeneration: true},
	{Group: RolloutsGroup, Version: V1alpha1, Kind: "AnalysisRun", Resource: "analysisruns", Singular: "analysisrun",
		Namespaced: true, HasStatus: true, HasGeneration: true},
	{Group: CoreGroup, Version: V1, Kind: "Secret", Resource: "secrets", Singular: "secret",
		Namespaced: true},
	{Group: CoreGroup, Version: V1, Kind: "ConfigMap", Resource: "configmaps", Singular: "configmap",
		ShortNames: []string{"cm"}, Namespaced: true},
	{Group: CoreGroup, Version: V1, Kind: "Event", Resource: "events", Singular: "event",
		ShortNames: []string{"ev"}, Namespaced: true},
}

var byKind, byName = index()

func index() (map[string]*Info, map[string]*Info) {
	kinds, names := map[string]*Info{}, map[string]*Info{}
	for _, i := range all {
		kinds[i.Kind] = i
		for _, n := range append([]string{i.Kind, i.Resource, i.Singular}, i.ShortNames...) {
			names[strings.ToLower(n)] = i
		}
	}
	return kinds, names
}

// All returns every kind, in a stable order (Kargo kinds, Rollouts kinds, core kinds).
func All() []*Info { return append([]*Info(nil), all...) }

// ByKind returns the kind named exactly kind (e.g. "Stage"), or nil.
func ByKind(kind string) *Info { return byKind[kind] }

// Lookup resolves a name the way kubectl does: the kind, its plural, its
// singular or a short name, case-insensitively. It returns nil if none match.
func Lookup(name string) *Info { return byName[strings.ToLower(name)] }

// ByResource returns the kind served at group/resource, or nil.
func ByResource(group, resource string) *Info {
	for _, i := range all {
		if i.Group == group && i.Resource == resource {
			return i
		}
	}
	return nil
}

// Names returns every name Lookup accepts, sorted; for help and error texts.
func Names() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
