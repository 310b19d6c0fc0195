@k8s @addons
Feature: metrics-server, MetalLB and Helm

  @check:metrics.apiservice-available @check:metrics.node-metrics
  Scenario: metrics-server serves node metrics
    Then the APIService v1beta1.metrics.k8s.io is Available
    And node metrics exist for every node

  @check:metallb.strict-arp
  Scenario: strictARP is on for MetalLB in IPVS mode
    Then kube-proxy has ipvs.strictARP true

  @check:metallb.lb-ingress-ip @check:metallb.lb-http
  Scenario: a LoadBalancer Service gets an address from the pool
    Then every LoadBalancer Service has an ingress IP from the MetalLB pool
    And the LoadBalancer IPs answer HTTP

  @check:helm.version
  Scenario: Helm answers
    Then helm version reports the pinned version
