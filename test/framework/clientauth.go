package framework

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
)

// WebhookClientAuth writes into dir what kube-apiserver needs to present a client
// certificate to admission webhooks: a kubeconfig whose user "*" (every webhook) carries
// certPEM and keyPEM, and an AdmissionConfiguration pointing the ValidatingAdmissionWebhook
// plugin at it. It returns the AdmissionConfiguration's path, the value of
// --admission-control-config-file. docs/security.md shows the same two files.
func WebhookClientAuth(dir string, certPEM, keyPEM []byte) (string, error) {
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
users:
  - name: "*"
    user:
      client-certificate-data: %s
      client-key-data: %s
`, base64.StdEncoding.EncodeToString(certPEM), base64.StdEncoding.EncodeToString(keyPEM))
	kubeconfigPath := filepath.Join(dir, "webhook-client.kubeconfig")
	if err := os.WriteFile(kubeconfigPath, []byte(kubeconfig), 0o600); err != nil {
		return "", err
	}
	admission := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %s
`, kubeconfigPath)
	admissionPath := filepath.Join(dir, "admission.yaml")
	return admissionPath, os.WriteFile(admissionPath, []byte(admission), 0o600)
}
