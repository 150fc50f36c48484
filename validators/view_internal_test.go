package validators

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// peersOnly is a cluster that knows peers and has no mesh gateway, so that every annotation
// rule, state rules included, has something to report.
type peersOnly []string

func (p peersOnly) PeersNamed(string) []kinds.ObjectRef { return nil }
func (p peersOnly) HasPeer(name string) bool {
	for _, n := range p {
		if n == name {
			return true
		}
	}
	return false
}
func (p peersOnly) AnyPeer() bool                           { return len(p) > 0 }
func (p peersOnly) ExportsToPeer() bool                     { return false }
func (p peersOnly) MeshGateway() GatewayStatus              { return GatewayMissing }
func (p peersOnly) Existing(kinds.Kind) []kinds.ObjectRef   { return nil }
func (p peersOnly) Terminating(kinds.ObjectRef) bool        { return false }
func (p peersOnly) SamenessGroup(string) (found, peer bool) { return false, false }
func (p peersOnly) ProxyDefaultsGatewayMode() string        { return "" }

// workload is an injected Deployment with the upstreams annotation and a label.
func workload(upstreams, label string) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "frontend", Namespace: "apps", Labels: map[string]string{"v": label}}}
	d.Spec.Template.Annotations = map[string]string{UpstreamsAnnotation: upstreams, ConnectInjectAnnotation: "true"}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app"}}
	return d
}

// The view parses a workload's upstreams annotation once per object of a review, however
// many rules read it: once on CREATE, once for the new and once for the stored object on an
// UPDATE whose denials are ratcheted.
func TestAnnotationIsParsedOncePerObject(t *testing.T) {
	parses := 0
	parseAnnotation = func(value string, opts AnnotationOptions) []AnnotationEntry {
		parses++
		return ParseUpstreamAnnotation(value, opts)
	}
	t.Cleanup(func() { parseAnnotation = ParseUpstreamAnnotation })

	// Every annotation rule finds something: syntax, an unlabeled peer, a datacenter on a
	// peer, a duplicate, a bad and an unknown peer name, modes none and local, a namespace,
	// a wildcard.
	value := "api:x,db.dc2.peer:1,a.svc.dc2.peer:2:dc=dc3,b:3,c:3,d.svc.dc_2.peer:4,e.svc.dc9.peer:5," +
		"f.svc.dc2.peer:6:mesh_gateway_mode=none,g.svc.dc2.peer:7:mesh_gateway_mode=local,h.ns1:8,*:9"
	found := map[string]bool{}
	// Namespaces off for upstream-namespace-needs-namespaces, on for
	// upstream-partition-needs-partitions ("db.dc2.peer" is then namespace dc2, partition peer).
	for _, cfg := range []Config{{}, {NamespacesEnabled: true}} {
		e, err := NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		parses = 0
		res, err := e.Validate(Create, workload(value, "1"), nil, peersOnly{"dc2"})
		if err != nil {
			t.Fatal(err)
		}
		if parses != 1 {
			t.Errorf("CREATE: %d parses, want 1", parses)
		}
		for _, v := range res.Violations {
			found[v.Rule] = true
		}

		parses = 0
		if _, err := e.Validate(Update, workload(value+",i:10", "2"), workload(value, "1"), peersOnly{"dc2"}); err != nil {
			t.Fatal(err)
		}
		if parses != 2 {
			t.Errorf("UPDATE: %d parses, want 2 (the new object and the stored one)", parses)
		}
	}
	for _, r := range catalogue {
		if r.AppliesTo(kinds.Deployment) && !found[r.Name] {
			t.Errorf("rule %s found nothing: the count would not show that it reads the one parse", r.Name)
		}
	}
}
