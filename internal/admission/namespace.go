package admission

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// reserved reports whether ns is one of the two reserved namespaces.
func (o Options) reserved(ns string) bool {
	return ns == o.SharedResourcesNamespace || ns == o.SystemResourcesNamespace
}

// checkNamespace enforces, on create, that a namespaced object lives in an
// existing Project's namespace that is not being deleted, or — for Secrets
// and ConfigMaps only — in one of the reserved namespaces.
func (a *Admitter) checkNamespace(ctx context.Context, info *kinds.Info, ns, name string) error {
	if !info.Namespaced {
		return nil
	}
	nsPath := field.NewPath("metadata", "namespace")
	if ns == "" {
		return invalid(info, name, field.ErrorList{field.Required(nsPath,
			"set it to the name of the project this object belongs to")})
	}
	if a.opts.reserved(ns) {
		if info.Kind == "Secret" || info.Kind == "ConfigMap" {
			return nil
		}
		return invalid(info, name, field.ErrorList{field.Forbidden(nsPath, fmt.Sprintf(
			"namespace %q is reserved for shared Secrets and ConfigMaps: put this %s in a project's namespace",
			ns, info.Kind))})
	}
	return checkProjectOpen(ctx, a.lookup, a.opts, info, ns, name)
}

// checkProjectOpen returns a 404 when no Project owns namespace ns, and a 403
// when the Project is being deleted.
func checkProjectOpen(ctx context.Context, lk Lookup, opts Options, info *kinds.Info, ns, name string) error {
	p, err := lk.Get(ctx, "Project", "", ns)
	if apierrors.IsNotFound(err) {
		return projectNotFound(info, ns, []string{opts.SharedResourcesNamespace, opts.SystemResourcesNamespace})
	}
	if err != nil {
		return internalError("get project %q: %v", ns, err)
	}
	if p.GetDeletionTimestamp() != nil {
		return forbidden(info, name, fmt.Sprintf(
			"unable to create new content in project %q because it is being deleted: wait until it is gone, then create the project again",
			ns))
	}
	return nil
}

// projectDeleting reports whether the Project owning namespace ns is gone or
// being deleted.
func projectDeleting(ctx context.Context, lk Lookup, ns string) (bool, error) {
	p, err := lk.Get(ctx, "Project", "", ns)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, internalError("get project %q: %v", ns, err)
	}
	return p.GetDeletionTimestamp() != nil, nil
}

// validateMeta runs kube-apiserver's metadata checks: the name (a DNS-1123
// label for Projects, a DNS-1123 subdomain otherwise), namespace, labels,
// annotations, finalizers and ownerReferences.
func validateMeta(info *kinds.Info, obj *unstructured.Unstructured) field.ErrorList {
	nameFn := apivalidation.NameIsDNSSubdomain
	if info.OwnsNamespace {
		nameFn = apivalidation.ValidateNamespaceName
	}
	return apivalidation.ValidateObjectMetaAccessor(obj, info.Namespaced, nameFn, field.NewPath("metadata"))
}
