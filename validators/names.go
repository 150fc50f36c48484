package validators

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Names consul-k8s requires for the cluster-wide config entries.
const (
	ProxyDefaultsName = "global"
	MeshName          = "mesh"

	msgSingletonName = "%s must be named %q"
)

func checkSingletonName(in *ObjectInput) field.ErrorList {
	kind, _ := kinds.Of(in.Object)
	want := map[kinds.Kind]string{kinds.ProxyDefaults: ProxyDefaultsName, kinds.Mesh: MeshName}[kind]
	if name := metaOf(in.Object).GetName(); name != want {
		return field.ErrorList{field.Invalid(namePath, name, fmt.Sprintf(msgSingletonName, kind, want))}
	}
	return nil
}

func celProxyDefaultsName(g *celGen, _ kinds.Kind) {
	g.nameOnCreate(func(n string) string { return n + " == " + lit(ProxyDefaultsName) },
		lit(fmt.Sprintf(msgSingletonName, kinds.ProxyDefaults, ProxyDefaultsName)))
}

func celMeshName(g *celGen, _ kinds.Kind) {
	g.nameOnCreate(func(n string) string { return n + " == " + lit(MeshName) },
		lit(fmt.Sprintf(msgSingletonName, kinds.Mesh, MeshName)))
}

// checkSingleton serves both "singleton" (Mesh, ProxyDefaults) and "exported-services-singleton".
func checkSingleton(in *Input) field.ErrorList {
	if in.Operation != Create {
		return nil
	}
	self, _ := kinds.RefOf(in.Object)
	others := othersThan(self, in.State.Existing(self.Kind))
	if len(others) == 0 {
		return nil
	}
	names := make([]string, len(others))
	for i, o := range others {
		names[i] = o.Namespace + "/" + o.Name
	}
	return field.ErrorList{field.Forbidden(namePath,
		fmt.Sprintf("one %s per cluster and %s exists; edit it instead", self.Kind, strings.Join(names, ", ")))}
}
