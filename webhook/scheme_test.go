package webhook_test

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

func serializerFor() runtime.Decoder {
	return serializer.NewCodecFactory(kinds.NewScheme()).UniversalDeserializer()
}
