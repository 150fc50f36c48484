package framework

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// RegisterWebhookWith is RegisterWebhook with the options changed by customize (nil: none),
// for example exempt namespaces or extra match conditions.
func (c *Cluster) RegisterWebhookWith(name string, port int, caPEM []byte, customize func(*WebhookConfigurationOptions)) error {
	o := WebhookConfigurationOptions{
		Name: name,
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			url := fmt.Sprintf("https://127.0.0.1:%d%s", port, path)
			return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
		},
		FailurePolicy:  admissionregistrationv1.Fail,
		TimeoutSeconds: 5,
		Workloads:      true,
	}
	if customize != nil {
		customize(&o)
	}
	return c.ApplyWebhookConfiguration(WebhookConfiguration(o))
}

// ApplyWebhookConfiguration creates a ValidatingWebhookConfiguration or replaces the one of
// the same name, for example another engine's in a benchmark.
func (c *Cluster) ApplyWebhookConfiguration(vwc *admissionregistrationv1.ValidatingWebhookConfiguration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	existing := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	err := c.Client.Get(ctx, clientKey(vwc.Name), existing)
	switch {
	case apierrors.IsNotFound(err):
		return c.Client.Create(ctx, vwc)
	case err != nil:
		return err
	}
	vwc.ResourceVersion = existing.ResourceVersion
	return c.Client.Update(ctx, vwc)
}

// UnregisterWebhook deletes a ValidatingWebhookConfiguration; a missing one is not an error.
func (c *Cluster) UnregisterWebhook(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	vwc.Name = name
	err := c.Client.Delete(ctx, vwc)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
