// Package discovery holds what the artifact discoverers share: credentials,
// and the error kinds that tell a Warehouse reconciler whether a failure is
// worth retrying. The discoverers themselves live in the subpackages git,
// image and chart; like every domain engine they import neither the store nor
// any Kubernetes client: they take a subscription and credentials and return
// what they found, in the types of api/v1alpha1.
package discovery

import (
	"context"
	"errors"
	"fmt"
)

// Credentials authenticate to one repository. Secret values: never log
// them, never put them in an error.
type Credentials struct {
	Username string
	Password string
	// SSHPrivateKey is a PEM private key for git over SSH.
	SSHPrivateKey string
}

// CredentialType is the kind of repository credentials are for, as in the
// kargo.akuity.io/cred-type label of a credentials Secret.
type CredentialType string

// Credential types.
const (
	CredentialTypeGit   CredentialType = "git"
	CredentialTypeImage CredentialType = "image"
	CredentialTypeHelm  CredentialType = "helm"
)

// CredentialsLookup finds the credentials for a repository of a project; it
// returns nil and no error when there are none.
type CredentialsLookup interface {
	Lookup(ctx context.Context, project string, credType CredentialType, repoURL string) (*Credentials, error)
}

// Error kinds. Discoverers wrap their errors with one of these (via
// fmt.Errorf("...: %w", ErrX) or NewError) so that the reconciler can word the
// condition and decide whether to retry soon.
var (
	// ErrAuth: the repository refused the credentials (or needs some).
	ErrAuth = errors.New("authentication failed")
	// ErrNotFound: the repository, branch or chart does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnreachable: the host could not be reached or timed out.
	ErrUnreachable = errors.New("unreachable")
	// ErrInvalid: the subscription cannot work as written (bad regex,
	// constraint, platform). Retrying will not help until the spec changes.
	ErrInvalid = errors.New("invalid subscription")
	// ErrNoMatch: nothing in the repository passes the subscription's
	// filters. Not a failure of the repository; no Freight can be made.
	ErrNoMatch = errors.New("no matching artifact")
)

// Error is a discovery failure of one kind, with a message for users.
type Error struct {
	Kind error  // one of the Err* kinds above
	Msg  string // what failed and, where possible, how to fix it
	Err  error  // the underlying cause, if any
}

// NewError returns an Error of kind with a formatted message.
func NewError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}
