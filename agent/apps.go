package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dra-project/dra/apps"
	"github.com/dra-project/dra/apps/aaa"
	"github.com/dra-project/dra/apps/cdf"
	"github.com/dra-project/dra/apps/ocs"
	"github.com/dra-project/dra/configs"
	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/routing"
	"github.com/dra-project/dra/state"
)

// localApps are the enabled local applications.
type localApps struct {
	CDF *cdf.Server
	OCS *ocs.Server
	AAA *aaa.Server

	handlers map[uint32]routing.Handler
	pools    map[uint32]routing.LocalPool // each application's workers
	adverts  []peers.App
	closers  []io.Closer
}

func startApps(cfg *configs.Config, rt *routing.Router, log *slog.Logger) (*localApps, error) {
	la := &localApps{handlers: map[uint32]routing.Handler{}, pools: map[uint32]routing.LocalPool{}}
	add := func(id uint32, h routing.Handler, ads []peers.App, c io.Closer, w configs.LocalWorkers) {
		la.handlers[id] = h
		la.pools[id] = localPool(w)
		la.adverts = append(la.adverts, ads...)
		la.closers = append(la.closers, c)
	}
	id := apps.Identity{OriginHost: cfg.Identity.OriginHost, OriginRealm: cfg.Identity.OriginRealm}
	var err error
	if c := cfg.Apps.CDF; c.Enabled {
		var store io.Closer
		if la.CDF, store, err = newCDF(cfg, id, rt, log); err != nil {
			return nil, la.fail(fmt.Errorf("agent: cdf: %w", err))
		}
		add(cdf.AppID, la.CDF, la.CDF.Apps(), la.CDF, c.LocalWorkers)
		if store != nil {
			la.closers = append(la.closers, store)
		}
	}
	if c := cfg.Apps.OCS; c.Enabled {
		var store io.Closer
		if la.OCS, store, err = newOCS(cfg, id, rt, log); err != nil {
			return nil, la.fail(fmt.Errorf("agent: ocs: %w", err))
		}
		add(ocs.AppID, la.OCS, la.OCS.Apps(), la.OCS, c.LocalWorkers)
		if store != nil {
			la.closers = append(la.closers, store)
		}
	}
	if c := cfg.Apps.AAA; c.Enabled {
		var store io.Closer
		if la.AAA, store, err = newAAA(cfg, id, rt, log); err != nil {
			return nil, la.fail(fmt.Errorf("agent: aaa: %w", err))
		}
		add(aaa.AppID, la.AAA, la.AAA.Apps(), la.AAA, c.LocalWorkers)
		if store != nil {
			la.closers = append(la.closers, store)
		}
	}
	return la, nil
}

// newOCS builds the OCS on the configured state backend: with redis, on
// a store opened for it, returned to be closed after the OCS.
func newOCS(cfg *configs.Config, id apps.Identity, rt *routing.Router, log *slog.Logger) (*ocs.Server, io.Closer, error) {
	if cfg.State.Backend != state.BackendRedis {
		srv, err := ocs.New(cfg.Apps.OCS.Config, id, rt, log)
		return srv, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := state.Open(ctx, cfg.State, log)
	if err != nil {
		return nil, nil, err
	}
	r, ok := st.(*state.Redis)
	if !ok {
		return nil, nil, errors.Join(fmt.Errorf("state: backend %q opened a %s store", cfg.State.Backend, st.Backend()), st.Close())
	}
	srv, err := ocs.NewShared(cfg.Apps.OCS.Config, id, rt, r, log)
	if err != nil {
		return nil, nil, errors.Join(err, r.Close())
	}
	return srv, r, nil
}

// newCDF builds the CDF on the configured state backend: with redis (and stateful), its sessions and record dedupe
// on a store opened for it, returned to be closed after the CDF.
func newCDF(cfg *configs.Config, id apps.Identity, rt *routing.Router, log *slog.Logger) (*cdf.Server, io.Closer, error) {
	if cfg.State.Backend != state.BackendRedis || !cfg.Apps.CDF.Stateful {
		srv, err := cdf.New(cfg.Apps.CDF.Config, id, rt, log)
		return srv, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := state.Open(ctx, cfg.State, log)
	if err != nil {
		return nil, nil, err
	}
	r, ok := st.(*state.Redis)
	if !ok {
		return nil, nil, errors.Join(fmt.Errorf("state: backend %q opened a %s store", cfg.State.Backend, st.Backend()), st.Close())
	}
	srv, err := cdf.NewShared(cfg.Apps.CDF.Config, id, rt, r, log)
	if err != nil {
		return nil, nil, errors.Join(err, r.Close())
	}
	return srv, r, nil
}

// newAAA builds the AAA on the configured state backend: with redis, its sessions and address pool
// on a store opened for it, returned to be closed after the AAA.
func newAAA(cfg *configs.Config, id apps.Identity, rt *routing.Router, log *slog.Logger) (*aaa.Server, io.Closer, error) {
	if cfg.State.Backend != state.BackendRedis {
		srv, err := aaa.New(cfg.Apps.AAA.Config, id, rt, log)
		return srv, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := state.Open(ctx, cfg.State, log)
	if err != nil {
		return nil, nil, err
	}
	r, ok := st.(*state.Redis)
	if !ok {
		return nil, nil, errors.Join(fmt.Errorf("state: backend %q opened a %s store", cfg.State.Backend, st.Backend()), st.Close())
	}
	srv, err := aaa.NewShared(cfg.Apps.AAA.Config, id, rt, r, log)
	if err != nil {
		return nil, nil, errors.Join(err, r.Close())
	}
	return srv, r, nil
}

// localPool is an application's configured workers (0: the router's
// defaults, routing.DefaultLocalWorkers and DefaultLocalQueue).
func localPool(w configs.LocalWorkers) routing.LocalPool {
	return routing.LocalPool{Workers: w.Workers, Queue: w.Queue}
}

func (la *localApps) fail(err error) error { return errors.Join(err, la.close()) }

// close flushes and closes every application's durable state.
func (la *localApps) close() error {
	var errs []error
	for _, c := range la.closers {
		errs = append(errs, c.Close())
	}
	la.closers = nil
	return errors.Join(errs...)
}
