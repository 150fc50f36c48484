package webhook_test

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
)

func serializerFor() runtime.Decoder {
	return serializer.NewCodecFactory(server.NewScheme()).UniversalDeserializer()
}
