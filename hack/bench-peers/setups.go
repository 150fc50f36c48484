package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/consul-peering-guard/consul-peering-guard/hack/internal/measure"
	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// The webhook configurations, one per engine; a setup registers one and removes the others.
const (
	cfgOurs       = "bench-consul-peering-guard"
	cfgGatekeeper = "bench-gatekeeper"
	cfgKyverno    = "bench-kyverno"
)

// setup is one admission arrangement measured through the API server.
type setup struct {
	name string
	eng  *engine // nil: no admission (its direct figures are the floor server's)
	// path and entry, when set, replace the engine's: the same Kyverno serves two setups
	// through two groups of policies.
	path  func(resource string) string
	entry string
	// activate registers the setup's webhook alone and waits until the API server calls it.
	activate func(context.Context) error
}

func (b *bench) startEngines(ctx context.Context) error {
	bin, err := framework.BuildBinary(b.root, b.cluster.Dir)
	if err != nil {
		return err
	}
	ca, err := framework.NewCA("bench-peers-ca")
	if err != nil {
		return err
	}
	b.ca = ca
	certDir := filepath.Join(b.cluster.Dir, "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		return err
	}
	if b.ours, err = ours(bin, b.cluster.Kubeconfig, certDir, ca); err != nil {
		return err
	}
	if b.gk, err = gatekeeper(filepath.Join(b.root, "bin", "gatekeeper"), b.cluster.Kubeconfig, certDir, ca); err != nil {
		return err
	}
	if b.ky, err = kyverno(filepath.Join(b.root, "bin", "kyverno"), b.cluster.Kubeconfig, b.cluster.Client); err != nil {
		return err
	}
	for _, f := range []string{"gatekeeper/templates-rego.yaml", "gatekeeper/templates-cel.yaml", "gatekeeper/sync.yaml"} {
		if err := b.kubectl("apply", "-f", filepath.Join(b.root, "hack", "bench-peers", "policies", f)); err != nil {
			return err
		}
	}
	// Gatekeeper owns its status objects by its Pod, which out of cluster must exist all the
	// same (no kubelet runs it).
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: gatekeeperPod, Namespace: "gatekeeper-system"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "openpolicyagent/gatekeeper"}}}}
	if err := b.cluster.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := b.cluster.Client.Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: kyvernoPlaceholders[0]}}); err != nil {
		return err
	}
	if err := b.cluster.Client.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: kyvernoPlaceholders[1]}}); err != nil {
		return err
	}
	for _, e := range []*engine{b.ours, b.gk, b.ky} {
		fmt.Fprintf(os.Stderr, ">> starting %s\n", e.name)
		if e.proc, err = e.start(); err != nil {
			return err
		}
	}
	// Gatekeeper creates a constraint CRD per template once it has compiled it; only then can
	// the constraints be applied.
	if err := b.useConstraints("rego"); err != nil {
		out := b.cluster.Kubectl("get", "crd")
		var crds []string
		for _, l := range strings.Split(out.Stdout, "\n") {
			if strings.Contains(l, "constraints.gatekeeper") {
				crds = append(crds, l)
			}
		}
		logs := b.gk.proc.Logs()
		return fmt.Errorf("%w\n%s\nGatekeeper:\n%s", err, strings.Join(crds, "\n"), logs[:min(len(logs), 3000)])
	}
	// Kyverno's policies go in once it runs, as in a cluster: its policy webhook compiles each
	// one and refuses it when its CEL does not compile.
	if err := b.kubectl("apply", "-f", filepath.Join(policyDir(b.root, "kyverno"), "validatingpolicies.yaml")); err != nil {
		return err
	}
	for _, e := range []*engine{b.ours, b.gk, b.ky} {
		if err := e.waitEnforcing(time.Now(), 3*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) stopEngines() {
	for _, e := range []*engine{b.ours, b.gk, b.ky} {
		if e != nil && e.proc != nil {
			_ = e.proc.Stop()
		}
	}
}

// kubectl runs kubectl against the cluster, retrying for a minute (a constraint's kind exists
// only once Gatekeeper has compiled its template).
func (b *bench) kubectl(args ...string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		r := b.cluster.Kubectl(args...)
		if r.Code == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kubectl %s: %s", strings.Join(args, " "), r.Stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// useConstraints switches Gatekeeper's single-object rules to one engine ("rego" or "cel");
// the state rule is Rego in both.
func (b *bench) useConstraints(engine string) error {
	other := map[string]string{"rego": "cel", "cel": "rego"}[engine]
	dir := policyDir(b.root, "gatekeeper")
	if err := b.kubectl("delete", "--ignore-not-found", "-f", filepath.Join(dir, "constraints-"+other+".yaml")); err != nil {
		return err
	}
	if err := b.kubectl("apply", "-f", filepath.Join(dir, "constraints-"+engine+".yaml")); err != nil {
		return err
	}
	return b.kubectl("apply", "-f", filepath.Join(dir, "constraint-state.yaml"))
}

func (b *bench) unregisterAll() error {
	for _, name := range []string{cfgOurs, cfgGatekeeper, cfgKyverno} {
		if err := b.cluster.UnregisterWebhook(name); err != nil {
			return err
		}
	}
	return nil
}

// The probes every engine refuses: a PeeringDialer named dc2.west, and a ServiceDefaults
// with a peer upstream in mode none.
var (
	dialerProbe = parityCase{resource: gvrDialers, object: dialer("dc2.west")}
	modeProbe   = parityCase{resource: gvrServiceDefaults, object: serviceDefaults("probe", "dc2", "none")}
)

// waitProbe waits until a server-side dry run of probe is refused with a message holding
// every want and none of notWant, or is allowed when want is empty.
func (b *bench) waitProbe(ctx context.Context, probe parityCase, want, notWant []string) error {
	deadline := time.Now().Add(time.Minute)
	var last verdict
	for time.Now().Before(deadline) {
		last = b.judge(ctx, probe)
		ok := !last.failed && last.denied == (len(want) > 0)
		text := last.message
		for _, w := range want {
			ok = ok && strings.Contains(text, w)
		}
		for _, w := range notWant {
			ok = ok && !strings.Contains(text, w)
		}
		if ok {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("admission did not switch (want %q, not %q); last answer: %s", want, notWant, last)
}

func (b *bench) setups() []*setup {
	registerAlone := func(name string, e *engine) error {
		if err := b.unregisterAll(); err != nil {
			return err
		}
		if e == b.ours {
			return b.cluster.RegisterWebhook(cfgOurs, e.port, b.ca.CertPEM)
		}
		ca, err := e.caPEM()
		if err != nil {
			return err
		}
		return register(b.cluster, name, e.entry, e.base+e.path(""), ca)
	}
	cached := &setup{name: "Kyverno (GlobalContextEntry)", eng: b.ky, entry: "vpol-cached.validate.kyverno.svc",
		path: func(string) string {
			return "/vpol/export-needs-mesh-gateway-cached/gateway-mode-none-peer-upstream/peer-name-syntax"
		}}
	cached.activate = func(ctx context.Context) error {
		if err := b.unregisterAll(); err != nil {
			return err
		}
		ca, err := b.ky.caPEM()
		if err != nil {
			return err
		}
		if err := register(b.cluster, cfgKyverno, cached.entry, b.ky.base+cached.path(""), ca); err != nil {
			return err
		}
		return b.waitProbe(ctx, dialerProbe, []string{cached.entry, "peer-name-syntax"}, nil)
	}
	// gatekeeper has Gatekeeper judge the single-object rules with engine (rego or cel, other
	// the one it leaves) and waits until both switched constraints, the one the timed creates
	// meet included, refuse.
	gatekeeper := func(name, engine, other string) *setup {
		return &setup{name: name, eng: b.gk, activate: func(ctx context.Context) error {
			if err := b.useConstraints(engine); err != nil {
				return err
			}
			if err := registerAlone(cfgGatekeeper, b.gk); err != nil {
				return err
			}
			notOther := []string{"-" + other + "]"}
			if err := b.waitProbe(ctx, dialerProbe, []string{b.gk.entry, "[peer-name-syntax-" + engine + "]"}, notOther); err != nil {
				return err
			}
			return b.waitProbe(ctx, modeProbe, []string{b.gk.entry, "[gateway-mode-none-peer-upstream-" + engine + "]"}, notOther)
		}}
	}
	return []*setup{
		{name: "no admission", activate: func(ctx context.Context) error {
			if err := b.unregisterAll(); err != nil {
				return err
			}
			return b.waitProbe(ctx, dialerProbe, nil, nil)
		}},
		{name: "consul-peering-guard", eng: b.ours, activate: func(ctx context.Context) error {
			if err := registerAlone(cfgOurs, b.ours); err != nil {
				return err
			}
			return b.waitProbe(ctx, dialerProbe, []string{b.ours.entry, "(peer-name-syntax)"}, nil)
		}},
		gatekeeper("Gatekeeper (Rego)", "rego", "cel"),
		gatekeeper("Gatekeeper (CEL; Rego for the state rule)", "cel", "rego"),
		{name: "Kyverno (live lookup)", eng: b.ky, activate: func(ctx context.Context) error {
			if err := registerAlone(cfgKyverno, b.ky); err != nil {
				return err
			}
			return b.waitProbe(ctx, dialerProbe, []string{b.ky.entry, "peer-name-syntax"}, nil)
		}},
		cached,
	}
}

// directBodies are the reviews every engine gets straight over HTTPS: a ServiceDefaults with
// three peer upstreams and a PeeringDialer created, and an ExportedServices to a peer updated
// (the state rule: our index, Gatekeeper's inventory, Kyverno's API call).
func directBodies(path func(string) string) []measure.Body {
	return []measure.Body{
		{Path: path("servicedefaults"), Data: review("ServiceDefaults", "servicedefaults", "CREATE", serviceDefaults("direct", "dc2", "remote"), nil)},
		{Path: path("peeringdialers"), Data: review("PeeringDialer", "peeringdialers", "CREATE", dialer("dc4"), nil)},
		{Path: path("exportedservices"), Data: review("ExportedServices", "exportedservices", "UPDATE",
			exportedServices("web", map[string]any{"peer": "dc2"}), exportedServices("api", map[string]any{"peer": "dc2"}))},
	}
}

type perfFigures struct {
	creates, updates []time.Duration
	createP50s       []time.Duration // per round
	c1               []measure.Result
	c8               []measure.Result
}

// performance measures every setup in every round, in the same order each round.
func (b *bench) performance(ctx context.Context, setups []*setup, o options) (string, error) {
	if err := b.unregisterAll(); err != nil {
		return "", err
	}
	if err := b.setGateway(ctx, readyGateway); err != nil {
		return "", err
	}
	es := b.dyn.Resource(gvrExportedServices).Namespace("default")
	if _, err := es.Create(ctx, u(exportedServices("api", map[string]any{"peer": "dc2"})), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	floorCtx, stopFloor := context.WithCancel(ctx)
	defer stopFloor()
	floorAddr, err := measure.StartServer(floorCtx, filepath.Join(b.cluster.Dir, "certs"), func(s *server.TLSServer) error {
		s.Register("/", http.HandlerFunc(measure.Floor))
		return nil
	})
	if err != nil {
		return "", err
	}
	figs := make([]perfFigures, len(setups))
	for r := 0; r < o.rounds; r++ {
		// Each round starts with another setup, so that none always follows the same one.
		for k := range setups {
			i := (k + r) % len(setups)
			s := setups[i]
			fmt.Fprintf(os.Stderr, ">> round %d/%d: %s\n", r+1, o.rounds, s.name)
			if err := s.activate(ctx); err != nil {
				return "", fmt.Errorf("%s: %w", s.name, err)
			}
			if _, err := b.createMany(ctx, fmt.Sprintf("warm-%d-%d", r, i), 20); err != nil {
				return "", fmt.Errorf("%s: %w", s.name, err)
			}
			creates, err := b.createMany(ctx, fmt.Sprintf("r%d-s%d", r, i), o.creates)
			if err != nil {
				return "", fmt.Errorf("%s: %w", s.name, err)
			}
			updates, err := b.updateMany(ctx, o.updates)
			if err != nil {
				return "", fmt.Errorf("%s: %w", s.name, err)
			}
			f := &figs[i]
			f.creates = append(f.creates, creates...)
			f.updates = append(f.updates, updates...)
			p50, _ := measure.Percentiles(append([]time.Duration(nil), creates...))
			f.createP50s = append(f.createP50s, p50)
			base, caPEM, bodies := "https://"+floorAddr, b.ca.CertPEM, directBodies(func(string) string { return "/" })
			if s.eng != nil {
				if caPEM, err = s.eng.caPEM(); err != nil {
					return "", err
				}
				path := s.eng.path
				if s.path != nil {
					path = s.path
				}
				base, bodies = s.eng.base, directBodies(path)
			}
			if err := allowsEach(caPEM, base, bodies); err != nil {
				return "", fmt.Errorf("%s: %w", s.name, err)
			}
			measure.Load(caPEM, base, bodies, 2, 300*time.Millisecond, 0) // warm connections
			f.c1 = append(f.c1, measure.Load(caPEM, base, bodies, 1, o.direct/2, 0))
			f.c8 = append(f.c8, measure.Load(caPEM, base, bodies, 8, o.direct/2, 0))
			if err := b.deleteCreated(ctx); err != nil {
				return "", err
			}
		}
	}
	return perfReport(setups, figs, o), nil
}

// allowsEach checks that every direct review is allowed, so that the load measures the path
// a valid write takes (measure.Load counts any answer as a review).
func allowsEach(caPEM []byte, base string, bodies []measure.Body) error {
	c := framework.TLSClient(caPEM, false)
	for _, body := range bodies {
		_, resp, err := framework.PostRaw(c, base+body.Path, "application/json", body.Data)
		if err != nil {
			return err
		}
		if resp == nil || !resp.Allowed {
			return fmt.Errorf("the direct review to %s is not allowed: %+v", body.Path, resp)
		}
	}
	return nil
}

// createMany creates n valid ServiceDefaults one after another and returns each latency.
func (b *bench) createMany(ctx context.Context, prefix string, n int) ([]time.Duration, error) {
	res := b.dyn.Resource(gvrServiceDefaults).Namespace("default")
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		obj := u(serviceDefaults(fmt.Sprintf("%s-%d", prefix, i), "dc2", "remote"))
		obj.SetLabels(map[string]string{"bench": "latency"})
		start := time.Now()
		if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// updateMany renames the exported service n times, one update after another.
func (b *bench) updateMany(ctx context.Context, n int) ([]time.Duration, error) {
	res := b.dyn.Resource(gvrExportedServices).Namespace("default")
	cur, err := res.Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		next := u(exportedServices(fmt.Sprintf("api-%d", i), map[string]any{"peer": "dc2"}))
		next.SetResourceVersion(cur.GetResourceVersion())
		start := time.Now()
		if cur, err = res.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func (b *bench) deleteCreated(ctx context.Context) error {
	return b.dyn.Resource(gvrServiceDefaults).Namespace("default").DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "bench=latency"})
}

func ms(d time.Duration) string { return measure.Millis(d, 2) }

// ratio is a setup's added latency over ours ("-" for no admission).
func ratio(added, ours time.Duration, e *engine) string {
	if e == nil || ours <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(added)/float64(ours))
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmt.Sprintf("%s to %s", ms(lo), ms(hi))
}

func perfReport(setups []*setup, figs []perfFigures, o options) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "### Added latency through the API server\n\n%d rounds; per setup and round %d sequential creates of a ServiceDefaults with three peer upstreams, "+
		"then %d sequential updates of the ExportedServices exporting to a peer (the state rule: a ready gateway must exist).\n\n", o.rounds, o.creates, o.updates)
	sb.WriteString("| setup | create p50 / p99 | create p50 per round | added p50 | added p50 ÷ ours | update p50 / p99 | added p50 | added p50 ÷ ours |\n|---|---|---|---|---|---|---|---|\n")
	cNone, _ := measure.Percentiles(figs[0].creates)
	uNone, _ := measure.Percentiles(figs[0].updates)
	cOurs, _ := measure.Percentiles(figs[1].creates)
	uOurs, _ := measure.Percentiles(figs[1].updates)
	for i, s := range setups {
		c50, c99 := measure.Percentiles(figs[i].creates)
		u50, u99 := measure.Percentiles(figs[i].updates)
		fmt.Fprintf(&sb, "| %s | %s / %s | %s | %s | %s | %s / %s | %s | %s |\n", s.name, ms(c50), ms(c99), spread(figs[i].createP50s),
			ms(c50-cNone), ratio(c50-cNone, cOurs-cNone, s.eng), ms(u50), ms(u99), ms(u50-uNone), ratio(u50-uNone, uOurs-uNone, s.eng))
	}
	fmt.Fprintf(&sb, "\n### Direct HTTPS, the same three reviews to every webhook\n\nA ServiceDefaults create, a PeeringDialer create and an ExportedServices update, posted in turn over keep-alive TLS, %s per run and round; "+
		"the floor server only decodes the review and allows it (no admission row).\n\n", o.direct/2)
	sb.WriteString("| target | 1 client p50 / p99 | 8 clients reviews/s | reviews/s per round | ratio to the floor | ratio to consul-peering-guard | errors |\n|---|---|---|---|---|---|---|\n")
	floor := measure.Merge(figs[0].c8)
	ours := measure.Merge(figs[1].c8)
	for i, s := range setups {
		name := s.name
		if s.eng == nil {
			name = "floor server"
		}
		one, eight := measure.Merge(figs[i].c1), measure.Merge(figs[i].c8)
		var rounds []string
		for _, r := range figs[i].c8 {
			rounds = append(rounds, fmt.Sprintf("%.0f", r.RPS))
		}
		fmt.Fprintf(&sb, "| %s | %s / %s | %.0f | %s | %.2f | %.2f | %d |\n", name, measure.Millis(one.P50, 3), measure.Millis(one.P99, 3), eight.RPS,
			strings.Join(rounds, ", "), eight.RPS/floor.RPS, eight.RPS/ours.RPS, one.Errors+eight.Errors)
	}
	return sb.String()
}

// memoryAndStart restarts every engine with everything in place, first with the cluster as
// the latency runs left it, then with scaleSD ServiceDefaults and scalePeers PeeringDialers
// stored, then with scaleDeployments Deployments (that are not gateways) stored too, and
// reports the time to enforcing and the memory once settled each time.
func (b *bench) memoryAndStart(ctx context.Context, engines []*engine, o options) (string, error) {
	type figure struct {
		start     time.Duration
		rss, heap float64
	}
	measureAll := func() ([]figure, error) {
		out := make([]figure, len(engines))
		for i, e := range engines {
			if err := e.proc.Stop(); err != nil {
				return nil, err
			}
			d, err := e.startEnforcing(5 * time.Minute)
			if err != nil {
				return nil, err
			}
			out[i].start = d
		}
		// Let every informer list and settle before reading the memory.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		n, err := b.count(ctx)
		if err != nil {
			return nil, err
		}
		if err := b.ours.proc.WaitForState(wctx, "PeeringDialer", n); err != nil {
			return nil, err
		}
		time.Sleep(10 * time.Second)
		for i, e := range engines {
			out[i].rss, out[i].heap = e.memory()
		}
		return out, nil
	}
	if err := b.unregisterAll(); err != nil {
		return "", err
	}
	before, err := measureAll()
	if err != nil {
		return "", err
	}
	after, withDeployments := before, before
	if o.scaleSD > 0 {
		fmt.Fprintf(os.Stderr, ">> storing %d ServiceDefaults and %d PeeringDialers\n", o.scaleSD, o.scalePeers)
		if err := b.fill(ctx, o.scaleSD, o.scalePeers, 0); err != nil {
			return "", err
		}
		if after, err = measureAll(); err != nil {
			return "", err
		}
		withDeployments = after
	}
	if o.scaleDeployments > 0 {
		fmt.Fprintf(os.Stderr, ">> storing %d Deployments\n", o.scaleDeployments)
		if err := b.fill(ctx, 0, 0, o.scaleDeployments); err != nil {
			return "", err
		}
		if withDeployments, err = measureAll(); err != nil {
			return "", err
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "### Memory and start\n\nEach engine restarted with its policies in place; \"start\" is the time from exec to refusing, by the peer-name rule, a review sent straight to it. "+
		"Memory 10 s after our index has listed every PeeringDialer. \"Stored\": %d ServiceDefaults and %d PeeringDialers written with no admission registered; "+
		"\"+ Deployments\": %d Deployments more, none of them a mesh gateway (Gatekeeper's SyncSet and Kyverno's GlobalContextEntry hold every Deployment; "+
		"ours watches only those its gateway selector matches).\n\n", o.scaleSD, o.scalePeers, o.scaleDeployments)
	sb.WriteString("| engine | start, empty | RSS / Go heap, empty | start, stored | RSS / Go heap, stored | RSS growth | start, + Deployments | RSS / Go heap, + Deployments | RSS growth over stored |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, e := range engines {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %.1f MiB | %s | %s | %.1f MiB |\n", e.name, before[i].start.Round(10*time.Millisecond), mib(before[i].rss, before[i].heap),
			after[i].start.Round(10*time.Millisecond), mib(after[i].rss, after[i].heap), after[i].rss-before[i].rss,
			withDeployments[i].start.Round(10*time.Millisecond), mib(withDeployments[i].rss, withDeployments[i].heap), withDeployments[i].rss-after[i].rss)
	}
	return sb.String(), nil
}

func mib(rss, heap float64) string {
	if heap < 0 {
		return fmt.Sprintf("%.1f MiB / -", rss)
	}
	return fmt.Sprintf("%.1f / %.1f MiB", rss, heap)
}

// count is the number of PeeringDialers stored.
func (b *bench) count(ctx context.Context) (int, error) {
	l, err := b.dyn.Resource(gvrDialers).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

// fill stores ServiceDefaults, PeeringDialers and Deployments (in namespace apps, none a
// gateway) with 8 writers and no admission.
func (b *bench) fill(ctx context.Context, sds, peers, deployments int) error {
	var g errgroup.Group
	g.SetLimit(8)
	create := func(gvr schema.GroupVersionResource, namespace string, obj map[string]any) {
		g.Go(func() error {
			_, err := b.dyn.Resource(gvr).Namespace(namespace).Create(ctx, u(obj), metav1.CreateOptions{})
			return err
		})
	}
	for i := 0; i < peers; i++ {
		create(gvrDialers, "default", dialer(fmt.Sprintf("scale-%d", i)))
	}
	for i := 0; i < sds; i++ {
		create(gvrServiceDefaults, "default", serviceDefaults(fmt.Sprintf("scale-%d", i), "dc2", "remote"))
	}
	for i := 0; i < deployments; i++ {
		create(gvrDeployments, "apps", appDeployment(fmt.Sprintf("app-%d", i)))
	}
	return g.Wait()
}
