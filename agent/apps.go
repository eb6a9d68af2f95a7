package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

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

func startApps(cfg *configs.Config, rt *routing.Router, st state.Store, log *slog.Logger) (*localApps, error) {
	la := &localApps{handlers: map[uint32]routing.Handler{}, pools: map[uint32]routing.LocalPool{}}
	add := func(id uint32, h routing.Handler, ads []peers.App, c io.Closer, w configs.LocalWorkers) {
		la.handlers[id] = h
		la.pools[id] = localPool(w)
		la.adverts = append(la.adverts, ads...)
		la.closers = append(la.closers, c)
	}
	id := apps.Identity{OriginHost: cfg.Identity.OriginHost, OriginRealm: cfg.Identity.OriginRealm}
	// With the redis backend the applications keep their state in the
	// agent's one store (opened and closed by the agent), shared with
	// the other agents on it; with the embedded one each keeps its own
	// under its data_dir.
	shared, _ := st.(*state.Redis)
	var err error
	if c := cfg.Apps.CDF; c.Enabled {
		if shared != nil && c.Stateful {
			la.CDF, err = cdf.NewShared(c.Config, id, rt, shared, log)
		} else {
			la.CDF, err = cdf.New(c.Config, id, rt, log)
		}
		if err != nil {
			return nil, la.fail(fmt.Errorf("agent: cdf: %w", err))
		}
		add(cdf.AppID, la.CDF, la.CDF.Apps(), la.CDF, c.LocalWorkers)
	}
	if c := cfg.Apps.OCS; c.Enabled {
		if shared != nil {
			la.OCS, err = ocs.NewShared(c.Config, id, rt, shared, log)
		} else {
			la.OCS, err = ocs.New(c.Config, id, rt, log)
		}
		if err != nil {
			return nil, la.fail(fmt.Errorf("agent: ocs: %w", err))
		}
		add(ocs.AppID, la.OCS, la.OCS.Apps(), la.OCS, c.LocalWorkers)
	}
	if c := cfg.Apps.AAA; c.Enabled {
		if shared != nil {
			la.AAA, err = aaa.NewShared(c.Config, id, rt, shared, log)
		} else {
			la.AAA, err = aaa.New(c.Config, id, rt, log)
		}
		if err != nil {
			return nil, la.fail(fmt.Errorf("agent: aaa: %w", err))
		}
		add(aaa.AppID, la.AAA, la.AAA.Apps(), la.AAA, c.LocalWorkers)
	}
	return la, nil
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
