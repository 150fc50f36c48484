package vap

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// TestRandomObjectsAgree goes beyond the tables: objects of every kind drawn from small
// alphabets of valid and invalid values (a fixed seed, so a failure replays), created
// and updated under three installations, through every generated policy at once and through
// the engine. Each must refuse the same writes and, where every validation only warns, name
// the same rules at fields the engine names.
func TestRandomObjectsAgree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfgRest := rest.CopyConfig(cluster.Config)
	seen := &warnings{}
	cfgRest.WarningHandler = seen
	dyn, err := dynamic.NewForConfig(cfgRest)
	if err != nil {
		t.Fatal(err)
	}
	v112, err := validators.ParseConsulVersion("1.12")
	if err != nil {
		t.Fatal(err)
	}
	configs := []validators.Config{
		{},
		{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true, Edition: validators.EditionEnterprise},
		{Edition: validators.EditionCE, ConsulVersion: v112, Actions: map[string]validators.Action{"consumer-no-wildcard": validators.Warn}},
	}
	const perConfig = 60
	rnd := rand.New(rand.NewSource(13))
	type randomCase struct {
		cfg      int
		old, obj runtime.Object
	}
	var cases []randomCase
	for ci := range configs {
		for i := 0; i < perConfig; i++ {
			draw := drawers[i%len(drawers)]
			obj := draw.random(rnd)
			var old runtime.Object
			if (i/len(drawers))%2 == 0 {
				old, obj = obj, draw.mutate(rnd, obj)
			}
			cases = append(cases, randomCase{cfg: ci, old: old, obj: obj})
		}
	}

	nsOf := func(i int, mirror bool) string {
		if mirror {
			return fmt.Sprintf("random-%03d-mirror", i)
		}
		return fmt.Sprintf("random-%03d", i)
	}
	const randomLabel = "vap.consul-peering-guard.io/random"
	for i, c := range cases {
		for _, mirror := range []string{"false", "true"} {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsOf(i, mirror == "true"),
				Labels: map[string]string{randomLabel: fmt.Sprint(c.cfg), mirrorLabel: mirror}}}
			if err := cluster.Client.Create(ctx, ns); err != nil {
				t.Fatal(err)
			}
			if c.old != nil {
				old, gvr := decode(t, typed(t, c.old), ns.Name)
				if _, err := dyn.Resource(gvr).Namespace(ns.Name).Create(ctx, old, metav1.CreateOptions{}); err != nil {
					t.Fatalf("storing the old object of case %d: %v", i, err)
				}
			}
		}
	}
	for ci, cfg := range configs {
		set, err := policies.Generate(cfg, "default")
		if err != nil {
			t.Fatal(err)
		}
		set = rename(set, fmt.Sprintf(".random%d", ci))
		if err := cluster.Client.Create(ctx, set.Settings); err != nil {
			t.Fatal(err)
		}
		for _, p := range set.Policies {
			if err := cluster.Client.Create(ctx, p.Policy); err != nil {
				t.Fatal(err)
			}
			if p.Binding == nil {
				continue // the rule is off in this configuration
			}
			mirror := p.Binding.DeepCopy()
			mirror.Name += ".mirror"
			mirror.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}
			for b, m := range map[*admissionregistrationv1.ValidatingAdmissionPolicyBinding]string{p.Binding: "false", mirror: "true"} {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{randomLabel: fmt.Sprint(ci), mirrorLabel: m}}}
			}
			for _, b := range []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{p.Binding, mirror} {
				if err := cluster.Client.Create(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	waitForPolicies(ctx, t, "vap-sentinel-random")

	for i, c := range cases {
		t.Run(fmt.Sprintf("case-%03d", i), func(t *testing.T) {
			cfg := configs[c.cfg]
			e, err := validators.NewEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			op := validators.Create
			if c.old != nil {
				op = validators.Update
			}
			res, err := e.Validate(op, c.obj, c.old, state.NewIndex())
			if err != nil {
				t.Fatal(err)
			}
			// What the policies should find: the new violations of the rules they enforce.
			denied, newRules, fields := false, map[string]bool{}, map[string][]string{}
			for _, v := range res.Violations {
				r := validators.RuleByName(v.Rule)
				if !policies.Enforced(r) {
					continue
				}
				fields[v.Rule] = append(fields[v.Rule], v.Error.Field)
				if v.Action == validators.Deny {
					denied = true
				}
				if v.Action == validators.Deny || cfg.ActionFor(r) == validators.Warn {
					newRules[v.Rule] = true
				}
			}
			rc := ruleCase{Name: fmt.Sprint(i), Object: typed(t, c.obj)}
			if c.old != nil {
				rc.Old = typed(t, c.old)
			}
			dump := func() string { return string(rc.Object) + "\nold: " + string(rc.Old) }

			got, msgs := admit(ctx, t, dyn, seen, rc, nsOf(i, false))
			if got == "refused" {
				t.Fatalf("the API server's own validation refused a random object: %q\n%s", msgs, dump())
			}
			if (got == "deny") != denied {
				t.Fatalf("policies %s %q, engine denied=%v (violations %v)\n%s", got, msgs, denied, fields, dump())
			}
			if denied {
				if rule := ruleOf(msgs[0]); !newRules[rule] {
					t.Errorf("refused by %s, which the engine does not deny: %q (engine %v)", rule, msgs, fields)
				}
			}
			_, warned := admit(ctx, t, dyn, seen, rc, nsOf(i, true))
			gotRules := map[string]bool{}
			for _, w := range warned {
				rule := ruleOf(w)
				gotRules[rule] = true
				field, _ := warnedField(w)
				if !slices.Contains(fields[rule], field) {
					t.Errorf("policy %s names %s, the engine %v\n%s", rule, field, fields[rule], dump())
				}
			}
			for rule := range newRules {
				if !gotRules[rule] {
					t.Errorf("the engine finds a new %s violation at %v, no policy does (%q)\n%s", rule, fields[rule], warned, dump())
				}
			}
			for rule := range gotRules {
				if !newRules[rule] {
					t.Errorf("a policy finds a new %s violation, the engine does not (%q, engine %v)\n%s", rule, warned, fields, dump())
				}
			}
		})
	}
}

// admit is policyVerdict for every rule at once: deny, refused (by the API server's own
// validation), or the warnings of every policy.
func admit(ctx context.Context, t *testing.T, dyn dynamic.Interface, seen *warnings, c ruleCase, ns string) (string, []string) {
	t.Helper()
	if err := dryRun(ctx, t, dyn, seen, c, ns); err != nil {
		if !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			return "refused", []string{err.Error()}
		}
		return "deny", []string{err.Error()}
	}
	var out []string
	for _, w := range seen.take() {
		if strings.Contains(w, "ValidatingAdmissionPolicy") {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return "pass", out
}

// ruleOf is the rule a policy message ends with: "... (rule)".
func ruleOf(msg string) string {
	i := strings.LastIndex(msg, "(")
	if i < 0 || !strings.HasSuffix(msg, ")") {
		return ""
	}
	return msg[i+1 : len(msg)-1]
}

func typed(t *testing.T, obj runtime.Object) json.RawMessage {
	t.Helper()
	kind, _ := kinds.Of(obj)
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(string(kind)))
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func pick(rnd *rand.Rand, values ...string) string { return values[rnd.Intn(len(values))] }

var (
	modes = []string{"", "", "local", "remote", "none", "Remote"}
	peers = []string{"", "", "dc2", "DC-3", "-dc2", "*", "dc_2"}
)

func randomUpstream(rnd *rand.Rand) *v1alpha1.Upstream {
	u := &v1alpha1.Upstream{Name: pick(rnd, "api", "api", "db", "", "*"), Namespace: pick(rnd, "", "", "default", "billing", "*"),
		Partition: pick(rnd, "", "", "", "ap2"), Peer: pick(rnd, peers...)}
	u.MeshGateway.Mode = pick(rnd, modes...)
	return u
}

func randomServiceDefaults(rnd *rand.Rand) *v1alpha1.ServiceDefaults {
	sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	sd.Spec.MeshGateway.Mode = pick(rnd, modes...)
	if rnd.Intn(4) > 0 {
		sd.Spec.UpstreamConfig = &v1alpha1.Upstreams{}
		if rnd.Intn(3) == 0 {
			d := &v1alpha1.Upstream{Name: pick(rnd, "", "", "api"), Peer: pick(rnd, "", "", "dc2")}
			d.MeshGateway.Mode = pick(rnd, modes...)
			sd.Spec.UpstreamConfig.Defaults = d
		}
		for n := rnd.Intn(5); n > 0; n-- {
			sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides, randomUpstream(rnd))
		}
	}
	return sd
}

// mutateServiceDefaults changes one thing, or appends, moves or drops an override: updates
// that keep, move or add violations.
func mutateServiceDefaults(rnd *rand.Rand, old *v1alpha1.ServiceDefaults) *v1alpha1.ServiceDefaults {
	sd := old.DeepCopy()
	sd.Labels = map[string]string{"team": "platform"}
	if sd.Spec.UpstreamConfig == nil {
		sd.Spec.UpstreamConfig = &v1alpha1.Upstreams{}
	}
	ovs := sd.Spec.UpstreamConfig.Overrides
	switch rnd.Intn(5) {
	case 0:
		sd.Spec.UpstreamConfig.Overrides = append([]*v1alpha1.Upstream{randomUpstream(rnd)}, ovs...)
	case 1:
		if len(ovs) > 0 {
			sd.Spec.UpstreamConfig.Overrides = ovs[1:]
		}
	case 2:
		if len(ovs) > 0 {
			ovs[rnd.Intn(len(ovs))] = randomUpstream(rnd)
		}
	case 3:
		sd.Spec.MeshGateway.Mode = pick(rnd, modes...)
	}
	return sd
}

func randomConsumer(rnd *rand.Rand) v1alpha1.ServiceConsumer {
	c := v1alpha1.ServiceConsumer{}
	switch rnd.Intn(6) {
	case 0:
		c.Partition = pick(rnd, "ap2", "*")
	case 1:
		c.SamenessGroup = pick(rnd, "group", "*")
	case 2:
		c.Peer, c.Partition = "dc2", "ap2"
	case 3:
	default:
		c.Peer = pick(rnd, peers[2:]...)
	}
	return c
}

func randomExportedServices(rnd *rand.Rand) *v1alpha1.ExportedServices {
	es := &v1alpha1.ExportedServices{ObjectMeta: metav1.ObjectMeta{Name: pick(rnd, "default", "default", "ap1")}}
	for n := rnd.Intn(4); n > 0; n-- {
		svc := v1alpha1.ExportedService{Name: pick(rnd, "api", "api", "consul", "", "*"), Namespace: pick(rnd, "", "", "*", "billing")}
		for m := rnd.Intn(4); m > 0; m-- {
			svc.Consumers = append(svc.Consumers, randomConsumer(rnd))
		}
		es.Spec.Services = append(es.Spec.Services, svc)
	}
	return es
}

func mutateExportedServices(rnd *rand.Rand, old *v1alpha1.ExportedServices) *v1alpha1.ExportedServices {
	es := old.DeepCopy()
	es.Labels = map[string]string{"team": "platform"}
	svcs := es.Spec.Services
	switch rnd.Intn(4) {
	case 0:
		es.Spec.Services = append(svcs, randomExportedServices(rnd).Spec.Services...)
	case 1:
		if len(svcs) > 0 {
			svcs[rnd.Intn(len(svcs))].Consumers = append(svcs[rnd.Intn(len(svcs))].Consumers, randomConsumer(rnd))
		}
	case 2:
		if len(svcs) > 1 {
			es.Spec.Services = append(svcs[1:], svcs[0])
		}
	}
	return es
}

// drawers make a random object of a kind and a random update of one.
var drawers = []struct {
	random func(*rand.Rand) runtime.Object
	mutate func(*rand.Rand, runtime.Object) runtime.Object
}{
	{func(r *rand.Rand) runtime.Object { return randomServiceDefaults(r) },
		func(r *rand.Rand, o runtime.Object) runtime.Object {
			return mutateServiceDefaults(r, o.(*v1alpha1.ServiceDefaults))
		}},
	{func(r *rand.Rand) runtime.Object { return randomExportedServices(r) },
		func(r *rand.Rand, o runtime.Object) runtime.Object {
			return mutateExportedServices(r, o.(*v1alpha1.ExportedServices))
		}},
	{randomPeering, mutatePeering},
	{randomResolver, mutateResolver},
	{randomMembers, mutateMembers},
	{randomSingleton, mutateSingleton},
}

func randomSecret(rnd *rand.Rand) *v1alpha1.Secret {
	if rnd.Intn(5) == 0 {
		return nil
	}
	return &v1alpha1.Secret{Name: pick(rnd, "token", "token", ""), Key: pick(rnd, "data", "data", ""),
		Backend: pick(rnd, "kubernetes", "kubernetes", "", "vault")}
}

func randomPeering(rnd *rand.Rand) runtime.Object {
	spec := v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: randomSecret(rnd)}}
	meta := metav1.ObjectMeta{Name: pick(rnd, "dc2", "dc-3")}
	if rnd.Intn(2) == 0 {
		return &v1alpha1.PeeringAcceptor{ObjectMeta: meta, Spec: spec}
	}
	return &v1alpha1.PeeringDialer{ObjectMeta: meta, Spec: spec}
}

func mutatePeering(rnd *rand.Rand, old runtime.Object) runtime.Object {
	obj := old.DeepCopyObject()
	var spec *v1alpha1.PeeringSpec
	switch o := obj.(type) {
	case *v1alpha1.PeeringAcceptor:
		o.Labels, spec = map[string]string{"team": "platform"}, &o.Spec
	case *v1alpha1.PeeringDialer:
		o.Labels, spec = map[string]string{"team": "platform"}, &o.Spec
	}
	switch rnd.Intn(3) {
	case 0:
		spec.Peer.Secret = randomSecret(rnd)
	case 1:
		if spec.Peer.Secret != nil {
			spec.Peer.Secret.Backend = pick(rnd, "kubernetes", "", "vault", "consul")
		}
	}
	return obj
}

func randomTargets(rnd *rand.Rand) []v1alpha1.ServiceResolverFailoverTarget {
	var ts []v1alpha1.ServiceResolverFailoverTarget
	for n := rnd.Intn(4); n > 0; n-- {
		ts = append(ts, v1alpha1.ServiceResolverFailoverTarget{Service: "api", Peer: pick(rnd, peers...)})
	}
	return ts
}

func randomResolver(rnd *rand.Rand) runtime.Object {
	sr := &v1alpha1.ServiceResolver{ObjectMeta: metav1.ObjectMeta{Name: "api"}}
	if rnd.Intn(2) == 0 {
		sr.Spec.Redirect = &v1alpha1.ServiceResolverRedirect{Service: "api", Peer: pick(rnd, peers...)}
	}
	for _, subset := range []string{"v1", "v2", "*"} {
		if rnd.Intn(2) == 0 {
			if sr.Spec.Failover == nil {
				sr.Spec.Failover = map[string]v1alpha1.ServiceResolverFailover{}
			}
			sr.Spec.Failover[subset] = v1alpha1.ServiceResolverFailover{Targets: randomTargets(rnd)}
		}
	}
	return sr
}

func mutateResolver(rnd *rand.Rand, old runtime.Object) runtime.Object {
	sr := old.DeepCopyObject().(*v1alpha1.ServiceResolver)
	sr.Labels = map[string]string{"team": "platform"}
	switch rnd.Intn(3) {
	case 0:
		sr.Spec.Redirect = &v1alpha1.ServiceResolverRedirect{Service: "api", Peer: pick(rnd, peers...)}
	case 1:
		subset := pick(rnd, "v1", "v2", "*")
		if sr.Spec.Failover == nil {
			sr.Spec.Failover = map[string]v1alpha1.ServiceResolverFailover{}
		}
		f := sr.Spec.Failover[subset]
		f.Targets = append(randomTargets(rnd), f.Targets...)
		sr.Spec.Failover[subset] = f
	}
	return sr
}

func randomMembers(rnd *rand.Rand) runtime.Object {
	if rnd.Intn(2) == 0 {
		sg := &v1alpha1.SamenessGroup{ObjectMeta: metav1.ObjectMeta{Name: "group"}}
		for n := rnd.Intn(4); n > 0; n-- {
			sg.Spec.Members = append(sg.Spec.Members, v1alpha1.SamenessGroupMember{Peer: pick(rnd, peers...)})
		}
		return sg
	}
	si := &v1alpha1.ServiceIntentions{ObjectMeta: metav1.ObjectMeta{Name: "api"}}
	si.Spec.Destination.Name = "api"
	for n := rnd.Intn(4); n > 0; n-- {
		si.Spec.Sources = append(si.Spec.Sources, &v1alpha1.SourceIntention{Name: "web", Peer: pick(rnd, peers...), Action: "allow"})
	}
	return si
}

func mutateMembers(rnd *rand.Rand, old runtime.Object) runtime.Object {
	switch o := old.DeepCopyObject().(type) {
	case *v1alpha1.SamenessGroup:
		o.Labels = map[string]string{"team": "platform"}
		o.Spec.Members = append([]v1alpha1.SamenessGroupMember{{Peer: pick(rnd, peers...)}}, o.Spec.Members...)
		return o
	case *v1alpha1.ServiceIntentions:
		o.Labels = map[string]string{"team": "platform"}
		if len(o.Spec.Sources) > 0 && rnd.Intn(2) == 0 {
			o.Spec.Sources = o.Spec.Sources[1:]
		} else {
			o.Spec.Sources = append(o.Spec.Sources, &v1alpha1.SourceIntention{Name: "db", Peer: pick(rnd, peers...), Action: "deny"})
		}
		return o
	}
	return old
}

func randomSingleton(rnd *rand.Rand) runtime.Object {
	if rnd.Intn(2) == 0 {
		m := &v1alpha1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: pick(rnd, "mesh", "mesh", "other")}}
		if rnd.Intn(3) > 0 {
			m.Spec.Peering = &v1alpha1.PeeringMeshConfig{PeerThroughMeshGateways: rnd.Intn(2) == 0}
		}
		return m
	}
	pd := &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Name: pick(rnd, "global", "global", "default")}}
	pd.Spec.MeshGateway.Mode = pick(rnd, modes...)
	return pd
}

func mutateSingleton(rnd *rand.Rand, old runtime.Object) runtime.Object {
	switch o := old.DeepCopyObject().(type) {
	case *v1alpha1.Mesh:
		o.Labels = map[string]string{"team": "platform"}
		o.Spec.Peering = &v1alpha1.PeeringMeshConfig{PeerThroughMeshGateways: rnd.Intn(2) == 0}
		return o
	case *v1alpha1.ProxyDefaults:
		o.Labels = map[string]string{"team": "platform"}
		o.Spec.MeshGateway.Mode = pick(rnd, modes...)
		return o
	}
	return old
}
