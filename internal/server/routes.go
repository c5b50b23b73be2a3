package server

import (
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// target is what a resource path names.
type target struct {
	info *kinds.Info
	// namespace from the path; "" for cluster-scoped kinds and for
	// namespaced kinds listed or watched across all namespaces.
	namespace string
	// namespaced says the path had a /namespaces/{ns} segment.
	namespaced  bool
	name        string
	subresource string
}

// parsePath resolves /api/v1/... and /apis/{group}/{version}/... paths. It
// returns a nil target and ok=true for a discovery document path (handled by
// the caller), and ok=false for a path that names nothing.
func parsePath(path string) (t *target, group, version string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	for _, s := range segs {
		if s == "" {
			return nil, "", "", false
		}
	}
	switch {
	case segs[0] == "api":
		if len(segs) == 1 {
			return nil, "", "", true
		}
		if segs[1] != kinds.V1 {
			return nil, "", "", false
		}
		group, version, rest = kinds.CoreGroup, kinds.V1, segs[2:]
	case segs[0] == "apis":
		if len(segs) < 3 {
			return nil, strings.Join(segs[1:], ""), "", true
		}
		group, version, rest = segs[1], segs[2], segs[3:]
	default:
		return nil, "", "", false
	}
	if len(rest) == 0 {
		return nil, group, version, true
	}
	t = &target{}
	if rest[0] == "namespaces" {
		if len(rest) < 3 {
			return nil, "", "", false // there is no Namespace kind
		}
		t.namespace, t.namespaced, rest = rest[1], true, rest[2:]
	}
	if len(rest) > 3 {
		return nil, "", "", false
	}
	t.info = kinds.ByResource(group, rest[0])
	if t.info == nil || t.info.Version != version {
		return nil, "", "", false
	}
	if len(rest) > 1 {
		t.name = rest[1]
	}
	if len(rest) > 2 {
		t.subresource = rest[2]
	}
	switch {
	case t.namespaced && !t.info.Namespaced,
		!t.namespaced && t.info.Namespaced && t.name != "",
		t.subresource != "" && (t.subresource != "status" || !t.info.HasStatus):
		return nil, "", "", false
	}
	return t, group, version, true
}

// serveResources serves every /api and /apis path.
func (s *Server) serveResources(w http.ResponseWriter, r *http.Request) {
	if s.serveAction(w, r) { // POSTs to actions under an object; see actions.go
		return
	}
	t, group, version, ok := parsePath(r.URL.Path)
	if !ok {
		s.writeError(w, r, errNotFoundPath())
		return
	}
	if t == nil {
		s.serveDiscovery(w, r, group, version)
		return
	}
	switch {
	case t.name == "":
		switch r.Method {
		case http.MethodGet:
			s.serveListOrWatch(w, r, t)
		case http.MethodPost:
			if t.info.Namespaced && !t.namespaced {
				s.methodNotAllowed(w, r, "GET", "a list across all namespaces; create in /namespaces/{namespace}/"+t.info.Resource)
				return
			}
			s.serveCreate(w, r, t)
		default:
			s.methodNotAllowed(w, r, "GET, POST", "a collection")
		}
	case t.subresource == "status":
		switch r.Method {
		case http.MethodGet:
			s.serveGet(w, r, t)
		case http.MethodPut:
			s.serveUpdate(w, r, t)
		case http.MethodPatch:
			s.servePatch(w, r, t)
		default:
			s.methodNotAllowed(w, r, "GET, PUT, PATCH", "the status subresource")
		}
	default:
		switch r.Method {
		case http.MethodGet:
			s.serveGet(w, r, t)
		case http.MethodPut:
			s.serveUpdate(w, r, t)
		case http.MethodPatch:
			s.servePatch(w, r, t)
		case http.MethodDelete:
			s.serveDelete(w, r, t)
		default:
			s.methodNotAllowed(w, r, "GET, PUT, PATCH, DELETE", "an object")
		}
	}
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow, what string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, r, errMethodNotAllowed(r.Method, what))
}

// serveDiscovery answers Kubernetes discovery: /api, /apis, /apis/{group}
// and the resource lists of each group version.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, group, version string) {
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w, r, "GET", "a discovery document")
		return
	}
	core := strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api"
	switch {
	case core && version == "":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{kinds.V1},
		})
	case !core && group == "" && version == "":
		list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range apiGroups() {
			list.Groups = append(list.Groups, g)
		}
		writeJSON(w, http.StatusOK, &list)
	case !core && version == "":
		for _, g := range apiGroups() {
			if g.Name == group {
				g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(w, http.StatusOK, &g)
				return
			}
		}
		s.writeError(w, r, errNotFoundPath())
	default:
		list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}}
		list.GroupVersion = schema.GroupVersion{Group: group, Version: version}.String()
		for _, i := range kinds.All() {
			if i.Group != group || i.Version != version {
				continue
			}
			verbs := metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: i.Resource, SingularName: i.Singular, Namespaced: i.Namespaced,
				Kind: i.Kind, Verbs: verbs, ShortNames: i.ShortNames,
			})
			if i.HasStatus {
				list.APIResources = append(list.APIResources, metav1.APIResource{
					Name: i.Resource + "/status", Namespaced: i.Namespaced, Kind: i.Kind,
					Verbs: metav1.Verbs{"get", "patch", "update"},
				})
			}
		}
		if len(list.APIResources) == 0 {
			s.writeError(w, r, errNotFoundPath())
			return
		}
		writeJSON(w, http.StatusOK, &list)
	}
}

// apiGroups lists the non-core groups served, each with its one version.
func apiGroups() []metav1.APIGroup {
	var out []metav1.APIGroup
	seen := map[string]bool{}
	for _, i := range kinds.All() {
		if i.Group == kinds.CoreGroup || seen[i.Group] {
			continue
		}
		seen[i.Group] = true
		gv := metav1.GroupVersionForDiscovery{GroupVersion: i.Group + "/" + i.Version, Version: i.Version}
		out = append(out, metav1.APIGroup{Name: i.Group, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
	}
	return out
}
