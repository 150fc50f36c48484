package validators

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// SecretBackendKubernetes is the only peering token backend consul-k8s supports.
const SecretBackendKubernetes = "kubernetes"

func peeringSpec(obj interface{}) *v1alpha1.PeeringSpec {
	switch o := obj.(type) {
	case *v1alpha1.PeeringAcceptor:
		return &o.Spec
	case *v1alpha1.PeeringDialer:
		return &o.Spec
	}
	return nil
}

func checkPeerNameSyntax(in *ObjectInput) field.ErrorList {
	if name := metaOf(in.Object).GetName(); !ValidPeerName(name) {
		return field.ErrorList{field.Invalid(namePath, name, "the name is the Consul peer name; "+peerNameHint)}
	}
	return nil
}

func checkPeerNameUnique(in *Input) field.ErrorList {
	self, _ := kinds.RefOf(in.Object)
	others := othersThan(self, in.State.PeersNamed(self.Name))
	if len(others) == 0 {
		return nil
	}
	names := make([]string, len(others))
	for i, o := range others {
		names[i] = o.String()
	}
	return field.ErrorList{withDetail(field.Duplicate(namePath, self.Name),
		fmt.Sprintf("%s already uses this peer name; one Consul peering per name", strings.Join(names, ", ")))}
}

func checkPeerSecretValid(in *ObjectInput) field.ErrorList {
	spec := peeringSpec(in.Object)
	if spec == nil {
		return nil
	}
	if spec.Peer == nil {
		return field.ErrorList{field.Required(specPath.Child("peer"), "set peer.secret with name, key and backend kubernetes")}
	}
	s := spec.Peer.Secret
	if s == nil {
		return field.ErrorList{field.Required(peerSecretPth, "set name, key and backend kubernetes")}
	}
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(peerSecretPth.Child("name"), "name the Secret that holds the peering token"))
	}
	if s.Key == "" {
		errs = append(errs, field.Required(peerSecretPth.Child("key"), "name the key of the token in that Secret"))
	}
	if s.Backend != SecretBackendKubernetes {
		// Only a working backend is locked in on update; repairing an invalid one stays possible.
		if old := peeringSpec(in.Old); in.Operation == Update && old != nil && old.Peer != nil && old.Peer.Secret != nil &&
			old.Peer.Secret.Backend == SecretBackendKubernetes {
			errs = append(errs, field.Forbidden(peerSecretPth.Child("backend"),
				fmt.Sprintf("the backend cannot change from %q; keep it or recreate the peering", SecretBackendKubernetes)))
		} else {
			errs = append(errs, field.NotSupported(peerSecretPth.Child("backend"), s.Backend, []string{SecretBackendKubernetes}))
		}
	}
	return errs
}
