// Package identity carries the authenticated caller of a request through a
// context, so admission and controllers can record who did what.
package identity

import "context"

// Actor is who performs an action, as recorded on Promotions and Events.
type Actor struct {
	// Name is the subject, e.g. "admin" for the admin token.
	Name string
	// Admin actors may read every namespace and Secret data.
	Admin bool
}

// String returns the actor in Kargo's recorded form, e.g. "admin".
func (a Actor) String() string { return a.Name }

// Controller is the actor recorded for changes Caravan makes on its own.
var Controller = Actor{Name: "caravan-controller", Admin: true}

type ctxKey struct{}

// WithActor returns a context carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// FromContext returns the actor in ctx and whether there was one.
func FromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(ctxKey{}).(Actor)
	return a, ok
}
