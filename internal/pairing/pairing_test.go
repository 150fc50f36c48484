package pairing_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/pairing"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func peerSpec(secret string) v1alpha1.PeeringSpec {
	return v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: &v1alpha1.Secret{Name: secret, Key: "data", Backend: "kubernetes"}}}
}

// Collect digests the token each acceptor and dialer points at; a missing Secret or key
// leaves the object without one.
func TestCollectTokens(t *testing.T) {
	const token = "a-peering-token"
	c := fake.NewClientBuilder().WithScheme(kinds.NewScheme()).WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "peering-token"}, Data: map[string][]byte{"data": []byte(token)}},
		&v1alpha1.PeeringAcceptor{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "cluster-02"}, Spec: peerSpec("peering-token")},
		&v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "cluster-03"}, Spec: peerSpec("not-there")},
	).Build()
	items, _, tokens, err := pairing.Collect(context.Background(), c, labels.SelectorFromSet(labels.Set{"component": "mesh-gateway"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 {
		t.Fatalf("items %d, want 2", len(items))
	}
	acc := kinds.ObjectRef{Kind: kinds.PeeringAcceptor, Namespace: "consul", Name: "cluster-02"}
	want := map[kinds.ObjectRef]string{acc: pairing.TokenDigest([]byte(token))}
	if len(tokens) != 1 || tokens[acc] != want[acc] {
		t.Errorf("tokens %v, want %v", tokens, want)
	}
	if strings.Contains(tokens[acc], token) || tokens[acc] == "" {
		t.Errorf("digest %q reveals the token or is empty", tokens[acc])
	}
	if pairing.TokenDigest(nil) != "" {
		t.Error("an empty token has a digest")
	}
}

func TestBestGateway(t *testing.T) {
	for _, tc := range []struct {
		gateways []state.Gateway
		want     validators.GatewayStatus
	}{
		{nil, validators.GatewayMissing},
		{[]state.Gateway{{Status: validators.GatewayNotReady}}, validators.GatewayNotReady},
		{[]state.Gateway{{Status: validators.GatewayNotReady}, {Status: validators.GatewayReady}}, validators.GatewayReady},
	} {
		if got := pairing.BestGateway(tc.gateways); got != tc.want {
			t.Errorf("BestGateway(%v) = %s, want %s", tc.gateways, got, tc.want)
		}
	}
}
