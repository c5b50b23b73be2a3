package server

import (
	"net/http"

	"github.com/caravan-dev/caravan/internal/apply"
)

// ApplyPath is where manifests are applied.
const ApplyPath = "/caravan/v1/apply"

// ApplyResponse is the answer of POST /caravan/v1/apply: one result per
// document, in document order. It is sent with 200 even when some documents
// failed; each failure carries its Status.
type ApplyResponse struct {
	Results []apply.Result `json:"results"`
}

// serveApply applies a multi-document YAML or JSON body (see apply.Decode
// and apply.Applier.Apply).
func (s *Server) serveApply(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w, r, "POST", ApplyPath)
		return
	}
	if err := dryRunRefused(r.URL.Query()); err != nil {
		s.writeError(w, r, err)
		return
	}
	docs, err := apply.Decode(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		s.writeError(w, r, s.bodyError(err))
		return
	}
	resp := ApplyResponse{Results: s.applier.Apply(r.Context(), docs)}
	if resp.Results == nil {
		resp.Results = []apply.Result{}
	}
	writeJSON(w, http.StatusOK, &resp)
}
