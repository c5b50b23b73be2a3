package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every kind in this package.
const GroupName = "kargo.akuity.io"

// GroupVersion is the group and version of every kind in this package.
var GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// SchemeGroupVersion is an alias of GroupVersion, the name generated clients
// and apimachinery helpers expect.
var SchemeGroupVersion = GroupVersion

// SchemeBuilder registers this package's kinds with a runtime.Scheme. Nothing
// is registered until AddToScheme is called.
var SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

// AddToScheme adds every kind of this package, and its list kind, to a scheme.
var AddToScheme = SchemeBuilder.AddToScheme

// Resource returns the group-qualified resource for an unqualified resource
// name, e.g. "stages".
func Resource(resource string) schema.GroupResource {
	return GroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&Project{}, &ProjectList{},
		&ProjectConfig{}, &ProjectConfigList{},
		&ClusterConfig{}, &ClusterConfigList{},
		&Warehouse{}, &WarehouseList{},
		&Freight{}, &FreightList{},
		&Stage{}, &StageList{},
		&Promotion{}, &PromotionList{},
		&PromotionTask{}, &PromotionTaskList{},
		&ClusterPromotionTask{}, &ClusterPromotionTaskList{},
		&Target{}, &TargetList{},
		&PromotionRequest{}, &PromotionRequestList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
