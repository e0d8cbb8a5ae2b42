package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/midge-mqtt/midge/client"
	"github.com/midge-mqtt/midge/internal/bridge"
	"github.com/midge-mqtt/midge/internal/cluster"
)

// The Grafana dashboard shipped in docs/ is checked against the metrics
// this package serves: every name it queries must exist, be used as its
// type allows, and every midge_ metric must be on some panel.

const dashboardFile = "../../docs/grafana-midge.json"

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	RefID        string             `json:"refId"`
	Expr         string             `json:"expr"`
	LegendFormat string             `json:"legendFormat"`
	Datasource   *grafanaDatasource `json:"datasource"`
}

type grafanaPanel struct {
	ID         *int               `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Collapsed  bool               `json:"collapsed"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    *struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"` // a collapsed row's
}

type grafanaVariable struct {
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Definition string             `json:"definition"`
	Query      json.RawMessage    `json:"query"`
	Datasource *grafanaDatasource `json:"datasource"`
}

type grafanaDashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Inputs        []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

const dsInput = "${DS_PROMETHEUS}"

func loadDashboard(t *testing.T) *grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatalf("%s is not valid JSON", dashboardFile)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return &d
}

// allPanels is every panel, those inside collapsed rows included.
func allPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// variableQuery is a templating variable's query, stored either as a
// string or as {"query": "..."}.
func variableQuery(v grafanaVariable) string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &o) == nil && o.Query != "" {
		return o.Query
	}
	return v.Definition
}

// fqNameRE finds the name in a Desc's String().
var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func descName(t *testing.T, d *prometheus.Desc) string {
	t.Helper()
	m := fqNameRE.FindStringSubmatch(d.String())
	if m == nil {
		t.Fatalf("no fqName in %s", d)
	}
	return m[1]
}

// describedNames are the midge_ metrics of metrics.go.
func describedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, d := range slices.Concat(allDescs, bridgeDescs, authDescs, clusterDescs) {
		names[descName(t, d)] = true
	}
	return names
}

// servedFamilies scrapes the real /metrics handler once for the types of
// every metric it serves, the Go and process collectors' included: with a
// bridge, so that the bridge metrics appear, and after one refused
// CONNECT, so that midge_connections_refused_total has a series.
func servedFamilies(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	r := startRig(t, func(c *Config) {
		c.Bridges = func() []bridge.Figures { return []bridge.Figures{{Name: "remote"}} }
		c.Auth = func() []AuthFigures { return []AuthFigures{{Backend: "http"}} }
		c.Cluster = func() cluster.State { return cluster.State{Peers: []cluster.PeerState{{Name: "b"}}} }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A 3.1.1 client without a client id asking to keep its session.
	if _, err := client.Connect(ctx, client.Options{Address: r.mqtt, ProtocolVersion: client.MQTT311, KeepSession: true}); err == nil {
		t.Fatal("a client without id and with a persistent session was accepted")
	}
	return r.scrape()
}

// metricCatalog is what a dashboard expression may refer to.
type metricCatalog struct {
	described map[string]bool              // midge_ names from metrics.go
	served    map[string]*dto.MetricFamily // names served, with their types
	skipProc  bool                         // no process_ metrics on this platform
}

func newCatalog(t *testing.T) *metricCatalog {
	t.Helper()
	c := &metricCatalog{described: describedNames(t), served: servedFamilies(t), skipProc: true}
	for name := range c.served {
		if strings.HasPrefix(name, "process_") {
			c.skipProc = false
		}
	}
	for name := range c.described {
		if c.served[name] == nil {
			t.Errorf("%s is described in metrics.go but not served", name)
		}
	}
	return c
}

// ref is a metric name where an expression uses it.
type ref struct {
	name       string
	start, end int // of the name in the expression
}

// metricRE finds the metric names in an expression: identifiers starting
// midge_, go_ or process_ (not a variable such as $__rate_interval).
var metricRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:$])((?:midge|go|process)_[A-Za-z0-9_:]*)`)

func metricRefs(expr string) []ref {
	var out []ref
	for _, m := range metricRE.FindAllStringSubmatchIndex(expr, -1) {
		out = append(out, ref{name: expr[m[2]:m[3]], start: m[2], end: m[3]})
	}
	return out
}

// calls returns the spans of the arguments of every call to one of fns.
func calls(expr string, fns ...string) [][2]int {
	re := regexp.MustCompile(`(?:^|[^A-Za-z0-9_:])(?:` + strings.Join(fns, "|") + `)\s*\(`)
	var spans [][2]int
	for _, m := range re.FindAllStringIndex(expr, -1) {
		open := m[1] - 1
		depth := 0
		for i := open; i < len(expr); i++ {
			switch expr[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				spans = append(spans, [2]int{open + 1, i})
				break
			}
		}
	}
	return spans
}

func inside(r ref, spans [][2]int) bool {
	for _, s := range spans {
		if r.start >= s[0] && r.end <= s[1] {
			return true
		}
	}
	return false
}

// resolved is a reference to a served metric: its family, and the series
// suffix (_bucket, _sum, _count) used, if any.
type resolved struct {
	family string
	typ    dto.MetricType
	suffix string
}

// resolve finds the family a name belongs to, or says why it cannot.
func (c *metricCatalog) resolve(name string) (resolved, error) {
	if typ, ok := c.typeOf(name); ok {
		return resolved{family: name, typ: typ}, c.checkDescribed(name)
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		typ, ok := c.typeOf(base)
		if !ok {
			continue
		}
		if typ == dto.MetricType_HISTOGRAM || (typ == dto.MetricType_SUMMARY && suffix != "_bucket") {
			return resolved{family: base, typ: typ, suffix: suffix}, c.checkDescribed(base)
		}
		return resolved{}, fmt.Errorf("%s: %s is a %s, which has no %s series", name, base, typ, suffix)
	}
	if strings.HasPrefix(name, "midge_") && c.described[name] {
		return resolved{}, fmt.Errorf("%s is described in metrics.go but not served", name)
	}
	return resolved{}, fmt.Errorf("%s: no such metric", name)
}

func (c *metricCatalog) typeOf(name string) (dto.MetricType, bool) {
	if f := c.served[name]; f != nil {
		return f.GetType(), true
	}
	return 0, false
}

func (c *metricCatalog) checkDescribed(family string) error {
	if strings.HasPrefix(family, "midge_") && !c.described[family] {
		return fmt.Errorf("%s is served but not among metrics.go's descriptors", family)
	}
	return nil
}

// isCounterSeries reports whether a reference is to a series that only
// grows, so that only its rate means anything.
func (r resolved) isCounterSeries() bool {
	return r.typ == dto.MetricType_COUNTER || r.suffix != ""
}

// checkExpr returns the problems of one panel expression, and the metric
// families it uses.
func (c *metricCatalog) checkExpr(expr string) (problems []string, families []string) {
	if strings.TrimSpace(expr) == "" {
		return []string{"empty expression"}, nil
	}
	refs := metricRefs(expr)
	if len(refs) == 0 {
		problems = append(problems, "no midge_, go_ or process_ metric")
	}
	quantiles := calls(expr, "histogram_quantile")
	rates := calls(expr, "rate", "irate", "increase")
	for _, q := range quantiles {
		buckets := 0
		for _, r := range refs {
			if inside(r, [][2]int{q}) {
				buckets++
			}
		}
		if buckets == 0 {
			problems = append(problems, "histogram_quantile over no metric")
		}
	}
	for _, r := range refs {
		if c.skipProc && strings.HasPrefix(r.name, "process_") {
			continue
		}
		res, err := c.resolve(r.name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		families = append(families, res.family)
		if res.typ == dto.MetricType_HISTOGRAM && res.suffix == "" {
			problems = append(problems, fmt.Sprintf("%s is a histogram: query its _bucket, _sum or _count series", r.name))
		}
		if inside(r, quantiles) && (res.typ != dto.MetricType_HISTOGRAM || res.suffix != "_bucket") {
			problems = append(problems, fmt.Sprintf("histogram_quantile over %s, which is not a histogram's _bucket series", r.name))
		}
		if res.suffix == "_bucket" && !inside(r, quantiles) {
			problems = append(problems, fmt.Sprintf("%s outside histogram_quantile", r.name))
		}
		switch rated := inside(r, rates); {
		case res.isCounterSeries() && !rated:
			problems = append(problems, fmt.Sprintf("%s is a counter: use rate() or increase()", r.name))
		case !res.isCounterSeries() && rated:
			problems = append(problems, fmt.Sprintf("%s is a %s: rate() of it means nothing", r.name, res.typ))
		}
		// Every selector is narrowed to the instances picked on the
		// dashboard.
		rest := expr[r.end:]
		sel, ok := strings.CutPrefix(rest, "{")
		if end := strings.IndexByte(sel, '}'); !ok || end < 0 || !strings.Contains(sel[:end], `instance=~"$instance"`) {
			problems = append(problems, fmt.Sprintf(`%s without {instance=~"$instance"}`, r.name))
		}
	}
	return problems, families
}

// knownUnits are the Grafana unit ids the dashboard may use.
var knownUnits = map[string]bool{
	"": true, "short": true, "none": true, "s": true, "ms": true, "bytes": true, "Bps": true,
	"percentunit": true, "mps": true, "pps": true, "cps": true, "ops": true, "reqps": true,
}

func TestGrafanaDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if strings.TrimSpace(d.Title) == "" {
		t.Error("no title")
	}
	if d.UID == "" {
		t.Error("no uid")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: datasource references need 36 or later", d.SchemaVersion)
	}
	inputOK := false
	for _, in := range d.Inputs {
		if "${"+in.Name+"}" == dsInput && in.Type == "datasource" && in.PluginID == "prometheus" {
			inputOK = true
		}
	}
	if !inputOK {
		t.Errorf("no __inputs datasource %s for the prometheus plugin", dsInput)
	}
	checkDS := func(what string, ds *grafanaDatasource) {
		if ds == nil || ds.UID != dsInput || ds.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want {prometheus %s}", what, ds, dsInput)
		}
	}

	var instanceVar *grafanaVariable
	for i, v := range d.Templating.List {
		if v.Name == "instance" {
			instanceVar = &d.Templating.List[i]
		}
	}
	if instanceVar == nil {
		t.Error("no templating variable instance")
	} else {
		checkDS("variable instance", instanceVar.Datasource)
		if q := strings.ReplaceAll(variableQuery(*instanceVar), " ", ""); instanceVar.Type != "query" || q != "label_values(midge_build_info,instance)" {
			t.Errorf("variable instance: %s %q, want a query of label_values(midge_build_info, instance)", instanceVar.Type, q)
		}
	}

	panels := allPanels(d.Panels)
	if len(panels) == 0 {
		t.Fatal("no panels")
	}
	ids := map[int]string{}
	graphs := 0
	for _, p := range panels {
		name := fmt.Sprintf("panel %q", p.Title)
		if p.Title == "" {
			t.Errorf("a %s panel without a title", p.Type)
		}
		if p.ID == nil || *p.ID <= 0 {
			t.Errorf("%s: no id", name)
		} else if other, dup := ids[*p.ID]; dup {
			t.Errorf("%s: id %d is also %q's", name, *p.ID, other)
		} else {
			ids[*p.ID] = p.Title
		}
		if g := p.GridPos; g == nil {
			t.Errorf("%s: no gridPos", name)
		} else if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", name, *g)
		}
		if !knownUnits[p.FieldConfig.Defaults.Unit] {
			t.Errorf("%s: unit %q", name, p.FieldConfig.Defaults.Unit)
		}
		switch p.Type {
		case "row":
			if len(p.Targets) != 0 {
				t.Errorf("%s: a row with queries", name)
			}
			if len(p.Panels) != 0 && !p.Collapsed {
				t.Errorf("%s: panels inside a row that is not collapsed", name)
			}
			continue
		case "stat", "timeseries", "gauge", "bargauge", "table":
		default:
			t.Errorf("%s: type %q", name, p.Type)
		}
		graphs++
		checkDS(name, p.Datasource)
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", name)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: target %q without an expr", name, tg.RefID)
			}
			if tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("%s: refId %q missing or repeated", name, tg.RefID)
			}
			refIDs[tg.RefID] = true
			checkDS(name+" target "+tg.RefID, tg.Datasource)
		}
	}
	if graphs == 0 {
		t.Error("only rows")
	}

	// The top-level panels tile the grid without overlapping.
	top := d.Panels
	for i := range top {
		for j := i + 1; j < len(top); j++ {
			a, b := top[i].GridPos, top[j].GridPos
			if a == nil || b == nil {
				continue
			}
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("panels %q and %q overlap", top[i].Title, top[j].Title)
			}
		}
	}
}

// dashboardUse checks every expression of the dashboard, reporting each
// problem, and returns the panels (by title) that use each metric family,
// the templating variables included.
func dashboardUse(d *grafanaDashboard, c *metricCatalog, report func(format string, args ...any)) map[string][]string {
	use := map[string][]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			problems, fams := c.checkExpr(tg.Expr)
			for _, pr := range problems {
				report("panel %q target %s: %s\n\t%s", p.Title, tg.RefID, pr, tg.Expr)
			}
			for _, f := range fams {
				use[f] = append(use[f], p.Title)
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, r := range metricRefs(variableQuery(v)) {
			if _, err := c.resolve(r.name); err != nil {
				report("variable %s: %v", v.Name, err)
				continue
			}
			use[r.name] = append(use[r.name], "variable $"+v.Name)
		}
	}
	return use
}

func TestGrafanaMetricsExist(t *testing.T) {
	d := loadDashboard(t)
	c := newCatalog(t)
	if c.skipProc {
		t.Log("no process_ metrics on this platform: their names are not checked")
	}
	use := dashboardUse(d, c, t.Errorf)
	var names []string
	for n := range use {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d metrics on the dashboard: %s", len(names), strings.Join(names, " "))
	var histograms []string
	for name, f := range c.served {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			histograms = append(histograms, name)
		}
	}
	sort.Strings(histograms)
	t.Logf("histograms, the only metrics histogram_quantile may use: %s", strings.Join(histograms, " "))
}

func TestGrafanaCoversEveryMetric(t *testing.T) {
	d := loadDashboard(t)
	c := newCatalog(t)
	// The expressions' problems are TestGrafanaMetricsExist's to report.
	use := dashboardUse(d, c, func(string, ...any) {})
	var missing []string
	for name := range c.described {
		if len(use[name]) == 0 {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		t.Errorf("%s is on no panel", name)
	}
	// midge_build_info is a label carrier: it names the instances and
	// shows the version, and has no other use.
	for _, where := range use["midge_build_info"] {
		if where != "variable $instance" && where != "Version" {
			t.Errorf("midge_build_info on panel %q", where)
		}
	}
}

// The checker itself rejects what it is there to reject.
func TestGrafanaCheckerRejects(t *testing.T) {
	c := newCatalog(t)
	const sel = `{instance=~"$instance"}`
	for _, tc := range []struct{ expr, want string }{
		{`midge_clients_conected` + sel, "no such metric"},
		{`sum(rate(midge_publish_recieved_total` + sel + `[5m]))`, "no such metric"},
		{`histogram_quantile(0.99, sum by (le) (rate(midge_clients_connected_bucket` + sel + `[5m])))`, "no _bucket series"},
		{`histogram_quantile(0.99, rate(midge_received_bytes_total` + sel + `[5m]))`, "not a histogram's _bucket"},
		{`histogram_quantile(0.99, rate(midge_delivery_latency_seconds_sum` + sel + `[5m]))`, "not a histogram's _bucket"},
		{`midge_delivery_latency_seconds` + sel, "is a histogram"},
		{`midge_sent_bytes_total` + sel, "is a counter"},
		{`rate(midge_sessions` + sel + `[5m])`, "rate() of it"},
		{`rate(midge_sent_bytes_total[5m])`, "without"},
		{`rate(go_no_such_thing_total` + sel + `[5m])`, "no such metric"},
		{`vector(1)`, "no midge_"},
		{``, "empty"},
	} {
		problems, _ := c.checkExpr(tc.expr)
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want one with %q", tc.expr, problems, tc.want)
		}
	}
	for _, ok := range []string{
		`sum by (qos) (rate(midge_publish_received_total` + sel + `[$__rate_interval]))`,
		`histogram_quantile(0.5, sum by (le) (rate(midge_store_commit_duration_seconds_bucket` + sel + `[5m])))`,
		`sum(rate(midge_delivery_latency_seconds_sum` + sel + `[5m])) / sum(rate(midge_delivery_latency_seconds_count` + sel + `[5m]))`,
		`go_goroutines` + sel,
	} {
		if problems, _ := c.checkExpr(ok); len(problems) != 0 {
			t.Errorf("%s: %q", ok, problems)
		}
	}
}
