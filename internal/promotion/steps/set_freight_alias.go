package steps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/caravan-dev/caravan/internal/promotion"
)

// setFreightAliasSchema is the set-freight-alias step's config schema. Kargo
// has named the Freight and the alias differently over time (freightID or
// freightName and newAlias before name and alias); every form is accepted.
const setFreightAliasSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "set-freight-alias config",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "minLength": 1, "description": "The Freight's name (its ID, not an alias). Defaults to the Freight being promoted when the promotion carries one."},
    "freightName": {"type": "string", "minLength": 1, "description": "Older name of name."},
    "freightID": {"type": "string", "minLength": 1, "description": "Older name of name."},
    "alias": {"type": "string", "minLength": 1, "maxLength": 253, "description": "The new alias; it must not be in use by other Freight of the project."},
    "newAlias": {"type": "string", "minLength": 1, "maxLength": 253, "description": "Older name of alias."}
  },
  "anyOf": [
    {"required": ["alias"]},
    {"required": ["newAlias"]}
  ]
}`

// AliasWriter changes the alias of Freight: the narrow part of the store the
// set-freight-alias step needs. Setting the alias a Freight already has is a
// no-op. An alias held by another Freight of the project is an error
// wrapping ErrAliasInUse; a missing Freight one wrapping ErrNotFound.
type AliasWriter interface {
	SetFreightAlias(ctx context.Context, project, freight, alias string) error
}

// ErrAliasInUse is wrapped by AliasWriter errors for an alias another
// Freight of the project has.
var ErrAliasInUse = errors.New("alias in use")

type setFreightAliasConfig struct {
	Name        string `json:"name"`
	FreightName string `json:"freightName"`
	FreightID   string `json:"freightID"`
	Alias       string `json:"alias"`
	NewAlias    string `json:"newAlias"`
}

// setFreightAlias is the set-freight-alias step.
type setFreightAlias struct {
	w AliasWriter
}

// NewSetFreightAlias returns the set-freight-alias step, which writes with
// w: it gives a Freight of the promotion's project a new alias. The Freight
// is named by its name (its ID), which never changes, or, when the config
// names none, is the Freight being promoted (StepContext.TargetFreight).
// w must not be nil.
func NewSetFreightAlias(w AliasWriter) promotion.Step { return setFreightAlias{w: w} }

// Name implements promotion.Step.
func (setFreightAlias) Name() string { return "set-freight-alias" }

// Schema implements promotion.Step.
func (setFreightAlias) Schema() []byte { return []byte(setFreightAliasSchema) }

// Run implements promotion.Step.
func (s setFreightAlias) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	cfg, err := configFor[setFreightAliasConfig](s.Name(), sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	alias, err := oneOf("alias", map[string]string{"alias": cfg.Alias, "newAlias": cfg.NewAlias})
	if err != nil {
		return promotion.StepResult{}, err
	}
	if alias == "" {
		return promotion.StepResult{}, terminalf("alias: not set: give the new alias")
	}
	freight, err := oneOf("name", map[string]string{"name": cfg.Name, "freightName": cfg.FreightName, "freightID": cfg.FreightID})
	if err != nil {
		return promotion.StepResult{}, err
	}
	if freight == "" {
		freight = sc.TargetFreight.Name
	}
	if freight == "" && len(sc.Freight.Freight) == 1 {
		for _, ref := range sc.Freight.Freight {
			freight = ref.Name
		}
	}
	if freight == "" {
		return promotion.StepResult{}, terminalf("name: not set, and the promotion names no Freight being promoted: name the Freight to alias, such as name: ${{ ctx.targetFreight.name }}")
	}
	err = s.w.SetFreightAlias(ctx, sc.Project, freight, alias)
	switch {
	case errors.Is(err, ErrAliasInUse):
		return promotion.StepResult{}, terminalf("alias %q: another Freight of project %q has it: choose another alias", alias, sc.Project)
	case errors.Is(err, ErrNotFound):
		return promotion.StepResult{}, terminalf("name %q: no such Freight in project %q: give the Freight's name (its ID), not an alias", freight, sc.Project)
	case err != nil:
		return promotion.StepResult{}, fmt.Errorf("set the alias of Freight %q: %w", freight, err)
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Message: fmt.Sprintf("Freight %s is now %q", freight, alias)}, nil
}

// oneOf returns the value of the one field of fields that is set, the
// field named field or one of its older names; setting several is an error.
func oneOf(field string, fields map[string]string) (string, error) {
	var set []string
	value := ""
	for name, v := range fields {
		if v != "" {
			set = append(set, name)
			value = v
		}
	}
	if len(set) > 1 {
		sort.Strings(set)
		return "", terminalf("%s: %s are all set: they are names of the same field, keep one", field, strings.Join(set, " and "))
	}
	return value, nil
}
