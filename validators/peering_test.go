package validators_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const secretPath = "spec.peer.secret"

func TestPeeringRules(t *testing.T) {
	vault := &v1alpha1.Secret{Name: "peering-token", Key: "data", Backend: "vault"}
	runRuleCases(t, []ruleCase{
		// peer-name-syntax
		{name: "acceptor dc2", rule: "peer-name-syntax", obj: acceptor("dc2", k8sSecret())},
		{name: "dialer of 63 characters", rule: "peer-name-syntax", obj: dialer(longName(63), k8sSecret())},
		{name: "acceptor with a dot", rule: "peer-name-syntax", obj: acceptor("dc2.west", k8sSecret()),
			want: []hit{deny("metadata.name")}},
		{name: "dialer of 64 characters", rule: "peer-name-syntax", obj: dialer(longName(64), k8sSecret()),
			want: []hit{deny("metadata.name")}},
		{name: "dialer ending in a dash", rule: "peer-name-syntax", obj: dialer("dc2-", k8sSecret()),
			want: []hit{deny("metadata.name")}},

		// peer-name-unique
		{name: "only peer", rule: "peer-name-unique", obj: acceptor("dc2", k8sSecret())},
		{name: "other names", rule: "peer-name-unique",
			state: []runtime.Object{acceptor("dc3", k8sSecret()), dialer("dc4", k8sSecret())},
			obj:   acceptor("dc2", k8sSecret())},
		{name: "itself in the index", rule: "peer-name-unique",
			state: []runtime.Object{dialer("dc2", k8sSecret())}, obj: dialer("dc2", k8sSecret())},
		{name: "acceptor of the name in another namespace", rule: "peer-name-unique",
			state: []runtime.Object{inNamespace("other", acceptor("dc2", k8sSecret()))},
			obj:   acceptor("dc2", k8sSecret()),
			want:  []hit{deny("metadata.name")}},
		{name: "dialer beside an acceptor of the name", rule: "peer-name-unique",
			state: []runtime.Object{acceptor("dc2", k8sSecret())},
			obj:   dialer("dc2", k8sSecret()),
			want:  []hit{deny("metadata.name")}},
		{name: "the other one is being deleted", rule: "peer-name-unique",
			state: []runtime.Object{terminatingNow(acceptor("dc2", k8sSecret()))},
			obj:   dialer("dc2", k8sSecret()),
			want:  []hit{warn("metadata.name")}},
		{name: "one being deleted, one holding the name", rule: "peer-name-unique",
			state: []runtime.Object{terminatingNow(acceptor("dc2", k8sSecret())), inNamespace("other", dialer("dc2", k8sSecret()))},
			obj:   dialer("dc2", k8sSecret()),
			want:  []hit{deny("metadata.name")}},
		{name: "duplicate deleted again", rule: "peer-name-unique",
			state: []runtime.Object{inNamespace("other", acceptor("dc2", k8sSecret()))},
			setup: deleting(inNamespace("other", acceptor("dc2", nil))),
			obj:   acceptor("dc2", k8sSecret())},

		// peer-secret-valid
		{name: "kubernetes secret", rule: "peer-secret-valid", obj: acceptor("dc2", k8sSecret())},
		{name: "update keeping the backend", rule: "peer-secret-valid",
			old: dialer("dc2", k8sSecret()),
			obj: dialer("dc2", &v1alpha1.Secret{Name: "new-token", Key: "token", Backend: "kubernetes"})},
		{name: "no peer", rule: "peer-secret-valid",
			obj:  &v1alpha1.PeeringAcceptor{ObjectMeta: objMeta("dc2")},
			want: []hit{deny("spec.peer")}},
		{name: "no secret", rule: "peer-secret-valid", obj: dialer("dc2", nil),
			want: []hit{deny(secretPath)}},
		{name: "empty secret", rule: "peer-secret-valid", obj: acceptor("dc2", &v1alpha1.Secret{}),
			want: []hit{deny(secretPath + ".name"), deny(secretPath + ".key"), deny(secretPath + ".backend")}},
		{name: "vault backend", rule: "peer-secret-valid", obj: acceptor("dc2", vault),
			want: []hit{deny(secretPath + ".backend")}},
		{name: "backend changed on update", rule: "peer-secret-valid",
			old: acceptor("dc2", k8sSecret()), obj: acceptor("dc2", vault),
			want: []hit{deny(secretPath + ".backend")}},
		{name: "backend cleared on update of a dialer", rule: "peer-secret-valid",
			old: dialer("dc2", k8sSecret()), obj: dialer("dc2", &v1alpha1.Secret{Name: "peering-token", Key: "data"}),
			want: []hit{deny(secretPath + ".backend")}},
		{name: "old object without a secret", rule: "peer-secret-valid",
			old: dialer("dc2", nil), obj: dialer("dc2", k8sSecret())},
	})
}

// terminatingNow returns obj with a deletionTimestamp and consul-k8s's finalizer: deleted,
// not gone yet.
func terminatingNow[T metav1.Object](obj T) T {
	now := metav1.Now()
	obj.SetDeletionTimestamp(&now)
	obj.SetFinalizers([]string{"finalizers.consul.hashicorp.com"})
	return obj
}

func withPeeringVersion[T metav1.Object](v string, obj T) T {
	obj.SetAnnotations(map[string]string{validators.PeeringVersionAnnotation: v})
	return obj
}

func TestPeeringVersionAnnotation(t *testing.T) {
	const at = "metadata.annotations[consul.hashicorp.com/peering-version]"
	runRuleCases(t, []ruleCase{
		{name: "no annotation", rule: "peering-version-annotation", obj: acceptor("dc2", k8sSecret())},
		{name: "a version", rule: "peering-version-annotation", obj: withPeeringVersion("2", acceptor("dc2", k8sSecret()))},
		{name: "the largest version", rule: "peering-version-annotation", obj: withPeeringVersion("18446744073709551615", dialer("dc2", k8sSecret()))},
		{name: "leading zeros", rule: "peering-version-annotation", obj: withPeeringVersion("0003", dialer("dc2", k8sSecret()))},
		{name: "raised", rule: "peering-version-annotation",
			old: withPeeringVersion("2", acceptor("dc2", k8sSecret())), obj: withPeeringVersion("3", acceptor("dc2", k8sSecret()))},
		{name: "kept", rule: "peering-version-annotation",
			old: withPeeringVersion("2", acceptor("dc2", k8sSecret())), obj: labelled(withPeeringVersion("2", acceptor("dc2", k8sSecret())))},
		{name: "a word", rule: "peering-version-annotation", obj: withPeeringVersion("v2", acceptor("dc2", k8sSecret())),
			want: []hit{deny(at)}},
		{name: "negative", rule: "peering-version-annotation", obj: withPeeringVersion("-1", dialer("dc2", k8sSecret())),
			want: []hit{deny(at)}},
		{name: "empty", rule: "peering-version-annotation", obj: withPeeringVersion("", dialer("dc2", k8sSecret())),
			want: []hit{deny(at)}},
		{name: "beyond 64 bits", rule: "peering-version-annotation", obj: withPeeringVersion("18446744073709551616", dialer("dc2", k8sSecret())),
			want: []hit{deny(at)}},
		{name: "lowered", rule: "peering-version-annotation",
			old: withPeeringVersion("3", acceptor("dc2", k8sSecret())), obj: withPeeringVersion("2", acceptor("dc2", k8sSecret())),
			want: []hit{deny(at)}},
		{name: "an old word kept", rule: "peering-version-annotation",
			old: withPeeringVersion("two", acceptor("dc2", k8sSecret())), obj: labelled(withPeeringVersion("two", acceptor("dc2", k8sSecret()))),
			want: []hit{warn(at)}},
	})
}
