package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/apiclient"
	"github.com/caravan-dev/caravan/internal/controller"
	"github.com/caravan-dev/caravan/internal/credentials"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/discovery/chart"
	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/discovery/image"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/promotion/steps"
	"github.com/caravan-dev/caravan/internal/server"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// Defaults of `caravan server`.
const (
	// DefaultListen is where the server listens without --listen.
	DefaultListen = "127.0.0.1:8080"
	// DatabaseFile is the SQLite database in the data directory.
	DatabaseFile = "caravan.db"
	// GitMirrorsDir holds the shared bare Git mirrors in the data directory.
	GitMirrorsDir = "git"
	// DefaultWarehouseWorkers is how many Warehouses discover at once.
	DefaultWarehouseWorkers = 4
	// DefaultPromotionWorkers is how many Promotions (of different Stages)
	// run at once.
	DefaultPromotionWorkers = 4
	// PromotionsDir holds the promotions' workspaces in the data directory,
	// at <data-dir>/promotions/<project>/<promotion>.
	PromotionsDir = "promotions"
	// DefaultRegistryRateLimit is the request rate allowed per image registry.
	DefaultRegistryRateLimit = 20
)

// serverOptions are the flags of `caravan server`.
type serverOptions struct {
	streams           Streams
	dataDir           string
	listen            string
	warehouseWorkers  int
	promotionWorkers  int
	registryRateLimit float64
}

func newServerCommand(streams Streams) *cobra.Command {
	o := &serverOptions{streams: streams}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Caravan server on the embedded SQLite store",
		Long: "Server runs Caravan in one process: the HTTP API and the controllers over\n" +
			"an embedded SQLite store in the data directory (Git mirrors in\n" +
			"<data-dir>/git, promotion workspaces in <data-dir>/promotions). On first\n" +
			"start it writes an admin token to <data-dir>/admin-token, which the CLI on\n" +
			"the same machine picks up. It logs\n" +
			"one line when ready and stops cleanly on SIGTERM or SIGINT.\n" +
			"--listen 127.0.0.1:0 picks a free port; the ready line tells which.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return o.run(ctx)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *serverOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dataDir, "data-dir", "", "data directory (default $XDG_DATA_HOME/caravan, else ~/.local/share/caravan)")
	fs.StringVar(&o.listen, "listen", DefaultListen, "address to listen on (host:port; port 0 picks a free one)")
	fs.IntVar(&o.warehouseWorkers, "warehouse-workers", DefaultWarehouseWorkers, "how many Warehouses discover artifacts at once")
	fs.IntVar(&o.promotionWorkers, "promotion-workers", DefaultPromotionWorkers,
		"how many Promotions run at once (a Stage runs one at a time; these are of different Stages)")
	fs.Float64Var(&o.registryRateLimit, "registry-rate-limit", DefaultRegistryRateLimit, "requests per second allowed to each image registry")
}

// validate checks the flags' values.
func (o *serverOptions) validate() error {
	if o.warehouseWorkers < 1 {
		return fmt.Errorf("--warehouse-workers %d: need at least 1", o.warehouseWorkers)
	}
	if o.promotionWorkers < 1 {
		return fmt.Errorf("--promotion-workers %d: need at least 1", o.promotionWorkers)
	}
	if o.registryRateLimit <= 0 {
		return fmt.Errorf("--registry-rate-limit %g: need a positive number of requests per second", o.registryRateLimit)
	}
	return nil
}

// startControllers starts the reconcilers over st, the admission-wrapped
// store the API writes through, and returns at once: readiness does not
// wait for their caches to sync. They stop when ctx is done; wait blocks
// until they have.
func (o *serverOptions) startControllers(ctx context.Context, st store.Store, logger *slog.Logger) (wait func(), err error) {
	mirrors, err := git.NewMirrors(filepath.Join(o.dataDir, GitMirrorsDir), git.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open git mirrors: %w", err)
	}
	creds := credentials.New(st, credentials.Options{
		SharedNamespace: kinds.SharedResourcesNamespace,
		Logger:          logger,
	})
	rec, err := controller.NewWarehouseReconciler(controller.WarehouseOptions{
		Store:       st,
		Git:         mirrors,
		Images:      image.NewDiscoverer(image.Options{RateLimit: o.registryRateLimit, Logger: logger}),
		Charts:      chart.NewDiscoverer(chart.Options{Logger: logger}),
		Credentials: creds,
	})
	if err != nil {
		return nil, err
	}
	warehouses, err := controller.NewWarehouseRunner(st, rec, controller.RunnerOptions{
		Workers: o.warehouseWorkers,
		Logger:  logger,
	}, kinds.SharedResourcesNamespace)
	if err != nil {
		return nil, err
	}
	promotions, err := o.promotionRunner(st, mirrors, creds, logger)
	if err != nil {
		return nil, err
	}
	stageRec, err := controller.NewStageReconciler(controller.StageOptions{Store: st, Verifier: controller.NewVerifier(
		controller.VerifierOptions{Store: st, Logger: logger, SharedNamespace: kinds.SharedResourcesNamespace})})
	if err != nil {
		return nil, err
	}
	stages, err := controller.NewStageRunner(st, stageRec, controller.RunnerOptions{Workers: controller.DefaultStageWorkers, Logger: logger})
	if err != nil {
		return nil, err
	}
	runRec, err := controller.NewAnalysisRunReconciler(controller.AnalysisRunOptions{Store: st, Logger: logger})
	if err != nil {
		return nil, err
	}
	analysisRuns, err := controller.NewAnalysisRunRunner(st, runRec, controller.RunnerOptions{
		Workers: controller.DefaultAnalysisRunWorkers,
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}
	var m controller.Manager
	m.Add(warehouses, promotions, stages, analysisRuns)
	return m.Start(ctx), nil
}

// promotionRunner builds the promotion engine over the built-in steps and
// the runner of the Promotion reconciler. Workspaces live under
// <data-dir>/promotions; clones borrow from the shared mirrors.
func (o *serverOptions) promotionRunner(st store.Store, mirrors *git.Mirrors, creds discovery.CredentialsLookup,
	logger *slog.Logger) (*controller.Runner, error) {
	lookups := controller.NewPromotionLookups(st, kinds.SharedResourcesNamespace)
	registry := promotion.NewRegistry(steps.Builtins(steps.Deps{
		Mirrors:     mirrors,
		Credentials: creds,
		Metadata:    lookups,
		Aliases:     lookups,
	})...)
	engine := promotion.NewEngine(promotion.EngineOptions{
		Registry:        registry,
		Lookups:         lookups,
		SharedNamespace: kinds.SharedResourcesNamespace,
		Logger:          logger,
	})
	rec, err := controller.NewPromotionReconciler(controller.PromotionOptions{
		Store:   st,
		Engine:  engine,
		WorkDir: filepath.Join(o.dataDir, PromotionsDir),
	})
	if err != nil {
		return nil, err
	}
	return controller.NewPromotionRunner(st, rec, controller.RunnerOptions{
		Workers: o.promotionWorkers,
		Logger:  logger,
	})
}

func (o *serverOptions) run(ctx context.Context) (err error) {
	if err := o.validate(); err != nil {
		return err
	}
	if o.dataDir == "" {
		if o.dataDir, err = apiclient.DefaultDataDir(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	level := new(slog.LevelVar)
	logger := slog.New(slog.NewTextHandler(o.streams.Err, &slog.HandlerOptions{Level: level}))

	dbPath := filepath.Join(o.dataDir, DatabaseFile)
	db, err := sqlite.Open(dbPath, sqlite.WithLogger(logger))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store %s: %w", dbPath, cerr)
		}
	}()
	// Admission defaults and validates every write before the store commits it.
	st := admission.New(db, admission.Options{})

	tokenPath := filepath.Join(o.dataDir, apiclient.AdminTokenFile)
	_, statErr := os.Stat(tokenPath)
	newToken := errors.Is(statErr, fs.ErrNotExist)
	// The ready line says where the admin token is; keep the API's own
	// start-up notes out of the log so that start-up is one line.
	level.Set(slog.LevelWarn)
	srv, err := server.New(server.Options{
		Store:     st,
		DataDir:   o.dataDir,
		Logger:    logger,
		FreightID: freightID,
	})
	level.Set(slog.LevelInfo)
	if err != nil {
		return err
	}
	if p := srv.AdminTokenPath(); p != "" {
		tokenPath = p
	}
	// Controllers write through the same admission as the API, and stop
	// (finishing their current work) before the store closes.
	ctrlCtx, stopControllers := context.WithCancel(ctx)
	waitControllers, err := o.startControllers(ctrlCtx, st, logger)
	if err != nil {
		stopControllers()
		return err
	}
	defer func() {
		stopControllers()
		waitControllers()
	}()
	ready := func(addr net.Addr) {
		token := "existing"
		if newToken {
			token = "new"
		}
		logger.Info("caravan server ready",
			"url", serverURL(addr),
			"admin_token_file", tokenPath,
			"admin_token", token,
			"data_dir", o.dataDir)
	}
	if err := srv.ListenAndServe(ctx, o.listen, ready); err != nil {
		return err
	}
	logger.Info("caravan server stopped")
	return nil
}

// serverURL is the URL clients use to reach addr; an unspecified host
// (0.0.0.0, ::) is reached through loopback.
func serverURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		if ip.To4() != nil || ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		} else {
			ip = net.IPv6loopback
		}
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
