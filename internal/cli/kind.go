package cli

import (
	"fmt"
	"strings"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// resolveKind resolves a KIND argument the way kubectl does: kind, plural,
// singular or short name, case-insensitively.
func resolveKind(name string) (*kinds.Info, error) {
	if info := kinds.Lookup(name); info != nil {
		return info, nil
	}
	return nil, fmt.Errorf("unknown kind %q; valid kinds: %s", name, strings.Join(kinds.Names(), ", "))
}

// namespaceFor returns the namespace a command addresses for info: the
// project for namespaced kinds (an error when none was given), "" for
// cluster-scoped ones.
func namespaceFor(info *kinds.Info, project string) (string, error) {
	if !info.Namespaced {
		return "", nil
	}
	if project == "" {
		return "", fmt.Errorf("%s is namespaced: say which project with --project PROJECT (or -p PROJECT)", info.Kind)
	}
	return project, nil
}

// ref renders an object as "<kind>/<name>" with the kind lowercase singular,
// as apply and delete print it.
func ref(kind, name string) string {
	k := strings.ToLower(kind)
	if info := kinds.ByKind(kind); info != nil {
		k = info.Singular
	}
	if name == "" {
		return k
	}
	return k + "/" + name
}
