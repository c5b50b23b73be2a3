package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/kinds"
)

// verifyOptions are the flags of `caravan verify stage`.
type verifyOptions struct {
	global  *globalOptions
	project string
	abort   bool
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	o := &verifyOptions{global: g}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify a Stage's current Freight again, or abort its verification",
		Args:  cobra.NoArgs,
	}
	st := &cobra.Command{
		Use:     "stage NAME",
		Aliases: []string{"stages"},
		Short:   "Verify a Stage's current Freight again, or abort its running verification",
		Long: "Verify stage runs the Stage's verification (spec.verification) of its current\n" +
			"Freight again, as Kargo's `kargo verify stage` does: it sets the Stage's\n" +
			"kargo.akuity.io/reverify annotation to the ID of its newest, finished\n" +
			"verification, and the server starts a new one, recorded with you as its\n" +
			"actor.\n\n" +
			"With --abort it aborts the running verification instead (the\n" +
			"kargo.akuity.io/abort annotation): its AnalysisRun is terminated and the\n" +
			"verification ends as Aborted, by you.\n\n" +
			"Follow the outcome with `caravan get stage NAME -p PROJECT -o yaml`, under\n" +
			"status.freightHistory[0].verificationHistory (newest first).",
		Example: "  caravan verify stage uat -p kargo-demo\n" +
			"  caravan verify stage uat -p kargo-demo --abort",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0])
		},
	}
	o.addFlags(st.Flags())
	cmd.AddCommand(st)
	return cmd
}

func (o *verifyOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.project, "project", "p", "", "project of the Stage")
	fs.BoolVar(&o.abort, "abort", false, "abort the running verification instead of verifying again")
}

func (o *verifyOptions) run(ctx context.Context, name string) error {
	info := kinds.ByKind("Stage")
	ns, err := namespaceFor(info, o.project)
	if err != nil {
		return err
	}
	c, err := o.global.client()
	if err != nil {
		return err
	}
	obj, err := c.Get(ctx, info, ns, name)
	if err != nil {
		return err
	}
	latest, err := newestVerification(obj)
	if err != nil {
		return err
	}
	stage := ref(info.Kind, name)
	key, action := kargoapi.AnnotationKeyReverify, "reverification"
	switch {
	case latest == nil && o.abort:
		return fmt.Errorf("%s has no verification to abort: none has started for its current Freight", stage)
	case latest == nil:
		return fmt.Errorf("%s has no verification to run again: its current Freight has not been verified yet "+
			"(the first verification starts after a successful promotion)", stage)
	case o.abort && latest.Phase.IsTerminal():
		return fmt.Errorf("%s has no running verification to abort: the newest, %s, is %s", stage, latest.ID, latest.Phase)
	case o.abort:
		key, action = kargoapi.AnnotationKeyAbort, "abort"
	case !latest.Phase.IsTerminal():
		return fmt.Errorf("verification %s of %s is still %s: wait for it to finish, or abort it with "+
			"`caravan verify stage %s -p %s --abort`", latest.ID, stage, phaseOrPending(latest.Phase), name, ns)
	}
	// The server records who asked (the actor) in the annotation.
	value, err := json.Marshal(kargoapi.VerificationRequest{ID: latest.ID})
	if err != nil {
		return fmt.Errorf("encode %s request: %w", action, err)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{key: string(value)}},
	})
	if err != nil {
		return fmt.Errorf("encode %s patch: %w", action, err)
	}
	if _, err := c.Patch(ctx, info, ns, name, patch); err != nil {
		return err
	}
	fmt.Fprintf(o.global.streams.Out, "%s %s of verification %s requested\n", stage, action, latest.ID)
	return nil
}

// newestVerification returns the newest verification of the Stage's current
// freight collection, or nil. An error says the Stage has no Freight.
func newestVerification(obj *unstructured.Unstructured) (*kargoapi.VerificationInfo, error) {
	var st kargoapi.StageStatus
	if raw, found, _ := unstructured.NestedMap(obj.Object, "status"); found {
		b, err := json.Marshal(raw)
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			return nil, fmt.Errorf("decode status of stage %s: %w", obj.GetName(), err)
		}
	}
	cur := st.FreightHistory.Current()
	if cur == nil || len(cur.Freight) == 0 {
		return nil, errors.New(ref("Stage", obj.GetName()) + " has no Freight to verify: promote Freight into it first")
	}
	if len(cur.VerificationHistory) == 0 {
		return nil, nil
	}
	return &cur.VerificationHistory[0], nil
}

// phaseOrPending names a phase, an empty one as Pending.
func phaseOrPending(p kargoapi.VerificationPhase) kargoapi.VerificationPhase {
	if p == "" {
		return kargoapi.VerificationPhasePending
	}
	return p
}
