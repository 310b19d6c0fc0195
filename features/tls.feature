@k8s @tls
Feature: Kubelet serving certificates (guide: 启用TLSBootstrap)

  @check:tls.server-tls-bootstrap
  Scenario: every kubelet asks for a serving certificate
    Then serverTLSBootstrap is true in every kubelet config

  @check:tls.no-pending-csr @check:tls.serving-certs
  Scenario: serving CSRs are approved
    Then no kubelet-serving CSR is Pending or Denied
    And every kubelet has an approved serving certificate
