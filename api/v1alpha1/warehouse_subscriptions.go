package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	kjson "sigs.k8s.io/json"
)

// Keys of a subscription object that are not a generic artifact type.
const (
	subscriptionKeyName  = "name"
	subscriptionKeyGit   = "git"
	subscriptionKeyImage = "image"
	subscriptionKeyChart = "chart"
)

// subscriptionsPath is where RepoSubscriptions sit inside a Warehouse; it
// prefixes the paths of decoding errors.
const subscriptionsPath = "spec.subscriptions"

// FieldPathError is a strict decoding error about one field, named by its
// path from the object's root (e.g. spec.subscriptions[0].git.repoURl). It
// satisfies sigs.k8s.io/json's FieldError.
//
// +kubebuilder:object:generate=false
type FieldPathError struct {
	// Reason is "unknown field" or "duplicate field".
	Reason string
	// Path is the field's path from the root of the object.
	Path string
}

// Error returns the error in sigs.k8s.io/json's form: unknown field "path".
func (e *FieldPathError) Error() string { return e.Reason + " " + strconv.Quote(e.Path) }

// FieldPath returns the path of the offending field.
func (e *FieldPathError) FieldPath() string { return e.Path }

// SetFieldPath replaces the path of the offending field.
func (e *FieldPathError) SetFieldPath(path string) { e.Path = path }

// StrictDecodingError lists fields that strict decoding rejected, each a
// sigs.k8s.io/json FieldError whose FieldPath names the field.
//
// +kubebuilder:object:generate=false
type StrictDecodingError struct {
	Errors []error
}

// Error joins the field errors.
func (e *StrictDecodingError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, err := range e.Errors {
		msgs[i] = err.Error()
	}
	return "strict decoding error: " + strings.Join(msgs, ", ")
}

// Unwrap returns the field errors.
func (e *StrictDecodingError) Unwrap() []error { return e.Errors }

// UnmarshalStrict decodes JSON into v, case-sensitively, and fails with a
// *StrictDecodingError when the data has unknown or duplicate fields in the
// typed parts of v, including inside Warehouse subscriptions (which the
// generic sigs.k8s.io/json decoder reports only as a plain error). Free-form
// fields (JSON values) are not inspected. Other failures (syntax, wrong
// types) are returned as they are.
func UnmarshalStrict(data []byte, v any) error {
	strictErrs, err := kjson.UnmarshalStrict(data, v)
	if err != nil {
		var nested *StrictDecodingError
		if errors.As(err, &nested) {
			return &StrictDecodingError{Errors: append(strictErrs, nested.Errors...)}
		}
		return err
	}
	if len(strictErrs) > 0 {
		return &StrictDecodingError{Errors: strictErrs}
	}
	return nil
}

// UnmarshalJSON decodes a list of subscriptions. Each element is decoded
// strictly, whatever decoder called this: unknown or duplicate fields inside
// git, image and chart subscriptions fail with a *StrictDecodingError whose
// paths start at spec.subscriptions.
func (s *RepoSubscriptions) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*s = nil
		return nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return fmt.Errorf("%s: %w", subscriptionsPath, err)
	}
	out := make(RepoSubscriptions, len(raws))
	var strictErrs []error
	for i, raw := range raws {
		path := fmt.Sprintf("%s[%d]", subscriptionsPath, i)
		errs, err := out[i].decode(raw, path)
		if err != nil {
			return err
		}
		strictErrs = append(strictErrs, errs...)
	}
	if len(strictErrs) > 0 {
		return &StrictDecodingError{Errors: strictErrs}
	}
	*s = out
	return nil
}

// decode fills s from one subscription object; path locates it for errors.
func (s *RepoSubscription) decode(raw []byte, path string) ([]error, error) {
	var fields map[string]json.RawMessage
	dupErrs, err := kjson.UnmarshalStrict(raw, &fields, kjson.DisallowDuplicateFields)
	if err != nil {
		return nil, fmt.Errorf("%s: a subscription must be an object with one of git, image or chart: %w", path, err)
	}
	strictErrs := prefixFieldErrors(dupErrs, path)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var others []string
	for _, key := range keys {
		var errs []error
		var err error
		switch key {
		case subscriptionKeyName:
			err = json.Unmarshal(fields[key], &s.Name)
		case subscriptionKeyGit:
			errs, err = decodeStrictInto(fields[key], &s.Git)
		case subscriptionKeyImage:
			errs, err = decodeStrictInto(fields[key], &s.Image)
		case subscriptionKeyChart:
			errs, err = decodeStrictInto(fields[key], &s.Chart)
		default:
			others = append(others, key)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", path, key, err)
		}
		strictErrs = append(strictErrs, prefixFieldErrors(errs, path+"."+key)...)
	}

	typed := s.Git != nil || s.Image != nil || s.Chart != nil
	switch {
	case len(others) == 1 && !typed:
		gen, errs, err := decodeGeneric(others[0], fields[others[0]])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", path, others[0], err)
		}
		s.Generic = gen
		strictErrs = append(strictErrs, prefixFieldErrors(errs, path+"."+others[0])...)
	default:
		for _, key := range others {
			strictErrs = append(strictErrs, &FieldPathError{Reason: "unknown field", Path: path + "." + key})
		}
	}
	return strictErrs, nil
}

// genericSubscriptionWire is a generic subscription as written; Kargo also
// writes the type inside the object, which is accepted when it agrees.
//
// +kubebuilder:object:generate=false
type genericSubscriptionWire struct {
	SubscriptionType string `json:"subscriptionType,omitempty"`
	Name             string `json:"name"`
	Config           *JSON  `json:"config,omitempty"`
	DiscoveryLimit   int32  `json:"discoveryLimit,omitempty"`
}

func decodeGeneric(kind string, raw []byte) (*Subscription, []error, error) {
	var wire genericSubscriptionWire
	errs, err := kjson.UnmarshalStrict(raw, &wire)
	if err != nil {
		return nil, nil, err
	}
	if wire.SubscriptionType != "" && wire.SubscriptionType != kind {
		return nil, nil, fmt.Errorf("subscriptionType %q differs from the key %q it is written under", wire.SubscriptionType, kind)
	}
	return &Subscription{
		SubscriptionType: kind,
		Name:             wire.Name,
		Config:           wire.Config,
		DiscoveryLimit:   wire.DiscoveryLimit,
	}, errs, nil
}

// decodeStrictInto decodes raw into *dst, allocating it, with unknown and
// duplicate fields reported as strict errors relative to raw.
func decodeStrictInto[T any](raw []byte, dst **T) ([]error, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		*dst = nil
		return nil, nil
	}
	v := new(T)
	errs, err := kjson.UnmarshalStrict(raw, v)
	if err != nil {
		return nil, err
	}
	*dst = v
	return errs, nil
}

// prefixFieldErrors rewrites the paths of field errors to start at prefix.
func prefixFieldErrors(errs []error, prefix string) []error {
	for _, err := range errs {
		var fe kjson.FieldError
		if errors.As(err, &fe) {
			fe.SetFieldPath(prefix + "." + fe.FieldPath())
		}
	}
	return errs
}

// MarshalJSON writes a typed subscription as an ordinary object and a
// generic one as {"<type>": {"name": …, "config": …, "discoveryLimit": …}}.
func (s RepoSubscription) MarshalJSON() ([]byte, error) {
	if s.Generic == nil {
		type plain RepoSubscription
		return json.Marshal(plain(s))
	}
	if s.Generic.SubscriptionType == "" {
		return nil, errors.New("marshal subscription: generic subscription has no type")
	}
	inner := genericSubscriptionWire{
		Name:           s.Generic.Name,
		Config:         s.Generic.Config,
		DiscoveryLimit: s.Generic.DiscoveryLimit,
	}
	wire := map[string]any{s.Generic.SubscriptionType: inner}
	if s.Name != "" {
		wire[subscriptionKeyName] = s.Name
	}
	return json.Marshal(wire)
}

// SubscriptionName returns the subscription's name: the top-level name, or a
// generic subscription's own name.
func (s *RepoSubscription) SubscriptionName() string {
	if s.Name == "" && s.Generic != nil {
		return s.Generic.Name
	}
	return s.Name
}

// Kind returns "git", "image", "chart", the generic artifact type, or "" when
// nothing is set.
func (s *RepoSubscription) Kind() string {
	switch {
	case s.Git != nil:
		return subscriptionKeyGit
	case s.Image != nil:
		return subscriptionKeyImage
	case s.Chart != nil:
		return subscriptionKeyChart
	case s.Generic != nil:
		return s.Generic.SubscriptionType
	}
	return ""
}
