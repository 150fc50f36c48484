package webhook

import (
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// PathPrefix is the common prefix of the six validation paths.
const PathPrefix = "/validate-consul-hashicorp-com-v1alpha1-"

// Path returns the URL path that validates a kind, e.g. /validate-consul-hashicorp-com-v1alpha1-mesh.
func Path(kind validators.Kind) string {
	return PathPrefix + strings.ToLower(string(kind))
}

// Deps is what the validators need.
type Deps struct {
	Engine  *validators.Engine
	State   validators.ClusterState
	Log     logr.Logger
	Metrics *Metrics
	// Gate answers exempt namespaces and refuses reviews until the state has synced; nil
	// lets every review reach the rules.
	Gate *Gate
}

// Handlers returns the admission handler of every kind, keyed by its path.
func Handlers(d Deps) map[string]http.Handler {
	return map[string]http.Handler{
		Path(validators.KindMesh):              withValidator[*v1alpha1.Mesh](d, validators.KindMesh),
		Path(validators.KindProxyDefaults):     withValidator[*v1alpha1.ProxyDefaults](d, validators.KindProxyDefaults),
		Path(validators.KindServiceDefaults):   withValidator[*v1alpha1.ServiceDefaults](d, validators.KindServiceDefaults),
		Path(validators.KindExportedServices):  withValidator[*v1alpha1.ExportedServices](d, validators.KindExportedServices),
		Path(validators.KindPeeringAcceptor):   withValidator[*v1alpha1.PeeringAcceptor](d, validators.KindPeeringAcceptor),
		Path(validators.KindPeeringDialer):     withValidator[*v1alpha1.PeeringDialer](d, validators.KindPeeringDialer),
		Path(validators.KindServiceResolver):   withValidator[*v1alpha1.ServiceResolver](d, validators.KindServiceResolver),
		Path(validators.KindServiceIntentions): withValidator[*v1alpha1.ServiceIntentions](d, validators.KindServiceIntentions),
		Path(validators.KindSamenessGroup):     withValidator[*v1alpha1.SamenessGroup](d, validators.KindSamenessGroup),
	}
}

func withValidator[T object](d Deps, kind validators.Kind) http.Handler {
	log := d.Log.WithName(strings.ToLower(string(kind)))
	var v admission.Validator[T] = &Validator[T]{kind: kind, engine: d.Engine, state: d.State, log: log, metrics: d.Metrics}
	return &handler[T]{kind: kind, validator: v, log: log, metrics: d.Metrics, gate: d.Gate}
}

// Register serves every handler on the webhook server.
func Register(srv ctrlwebhook.Server, d Deps) {
	for path, wh := range Handlers(d) {
		srv.Register(path, wh)
	}
}
