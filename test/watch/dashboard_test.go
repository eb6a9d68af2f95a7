package watch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestDashboardShape: what Grafana needs to import the dashboard and lay
// it out: a uid, unique panel ids, every panel with queries on the
// dashboard's data source variable, and panels within the 24 columns
// without overlapping.
func TestDashboardShape(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deployDir(t), "grafana", "dra.json"))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	}
	type panel struct {
		ID      int      `json:"id"`
		Type    string   `json:"type"`
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Grid    struct {
			H, W, X, Y int
		} `json:"gridPos"`
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dra.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: all needed", d.UID, d.Title, d.SchemaVersion)
	}
	ids := map[int]string{}
	cells := map[[2]int]string{} // {x, y} -> panel
	for _, p := range d.Panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.Grid
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.Datasource.UID != "${datasource}" || refs[tg.RefID] {
				t.Errorf("panel %q: target %+v: want an expr, the ${datasource} variable and a unique refId", p.Title, tg)
			}
			refs[tg.RefID] = true
		}
	}
}
