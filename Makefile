# Caravan build helpers. Generated code is committed; CI runs check-generated.

GO ?= go

.PHONY: generate check-generated

# generate writes the deepcopy functions (zz_generated.deepcopy.go) of every
# API package with controller-gen, pinned by go.mod's tool directive.
generate:
	$(GO) tool controller-gen object paths=./api/...

# check-generated fails when the committed generated files differ from what
# generate produces, or when generate creates files that are not committed.
check-generated: generate
	@git diff --exit-code -- api/ || { echo "generated files under api/ are stale: run 'make generate' and commit the result" >&2; exit 1; }
	@untracked="$$(git ls-files --others --exclude-standard -- api/)"; \
	if [ -n "$$untracked" ]; then echo "untracked files under api/ (run 'make generate' and commit them):" >&2; echo "$$untracked" >&2; exit 1; fi

.PHONY: build run test bench

# build writes the caravan binary to ./bin/caravan.
build:
	$(GO) build -o bin/caravan ./cmd/caravan

# run starts `caravan server` on the embedded store with the default data dir.
run:
	$(GO) run ./cmd/caravan server

# test installs what the tests need, then runs gofmt, go vet, the generated
# code check and every test. It is the README's test command and what CI runs.
test:
	bash hack/test.sh

# bench prints the foundation benchmark table (see README "Benchmarks").
bench:
	$(GO) run ./hack/bench/foundation
