package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// benchFreight is a Freight of typical size: one image, one commit, one
// chart (about 700 bytes of JSON once stored).
func benchFreight(i int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
		"metadata": map[string]any{
			"name": fmt.Sprintf("%040x", i), "namespace": "bench",
			"labels": map[string]any{"kargo.akuity.io/alias": fmt.Sprintf("alias-%d", i)},
		},
		"alias":  fmt.Sprintf("alias-%d", i),
		"origin": map[string]any{"kind": "Warehouse", "name": "shop"},
		"images": []any{map[string]any{
			"repoURL": "registry.example.com/team/shop", "tag": fmt.Sprintf("1.%d.0", i),
			"digest": "sha256:" + strings.Repeat("a", 64),
		}},
		"commits": []any{map[string]any{
			"repoURL": "https://github.com/example/config.git", "id": strings.Repeat("b", 40),
			"branch": "main", "message": "Update the image", "author": "Someone <someone@example.com>",
		}},
		"charts": []any{map[string]any{"repoURL": "oci://registry.example.com/charts/shop", "version": fmt.Sprintf("0.%d.0", i)}},
	}}
}

// benchStage is a Stage of typical size: two requested Freight and a
// promotion template of four steps.
func benchStage(i int) *unstructured.Unstructured {
	step := func(uses string, cfg map[string]any) any { return map[string]any{"uses": uses, "config": cfg} }
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
		"metadata": map[string]any{"name": fmt.Sprintf("stage-%04d", i), "namespace": "bench"},
		"spec": map[string]any{
			"requestedFreight": []any{
				map[string]any{"origin": map[string]any{"kind": "Warehouse", "name": "shop"}, "sources": map[string]any{"direct": true}},
				map[string]any{"origin": map[string]any{"kind": "Warehouse", "name": "config"}, "sources": map[string]any{"stages": []any{"upstream"}}},
			},
			"promotionTemplate": map[string]any{"spec": map[string]any{"steps": []any{
				step("git-clone", map[string]any{"repoURL": "https://github.com/example/config.git", "checkout": []any{map[string]any{"branch": "main", "path": "./src"}}}),
				step("kustomize-set-image", map[string]any{"path": "./src/base", "images": []any{map[string]any{"image": "registry.example.com/team/shop"}}}),
				step("git-commit", map[string]any{"path": "./src", "message": "${{ outputs['update-image'].commitMessage }}"}),
				step("git-push", map[string]any{"path": "./src"}),
			}}},
		},
	}}
}

func benchList(b *testing.B, n int, make func(int) *unstructured.Unstructured, path string) {
	e := newEnv(b)
	ctx := context.Background()
	for i := range n {
		if _, err := e.store.Create(ctx, make(i)); err != nil {
			b.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	client := e.srv.Client()
	var size int64
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("list: %d %v", resp.StatusCode, err)
		}
	}
	b.ReportMetric(float64(size)/float64(n), "B/item")
}

// BenchmarkListStages1000 lists 1,000 Stages over HTTP (target: 50 ms).
func BenchmarkListStages1000(b *testing.B) {
	benchList(b, 1000, benchStage, kargo+"/namespaces/bench/stages")
}

// BenchmarkListFreight10000 lists 10,000 Freight over HTTP (target: 300 ms).
func BenchmarkListFreight10000(b *testing.B) {
	benchList(b, 10000, benchFreight, kargo+"/namespaces/bench/freights")
}
