@fault @serial
Feature: The guide's cloud pitfalls, reproduced on purpose
  Each pitfall is injected on the live lab, must be caught by the checks with a diagnosis that
  names the guide's fix, is healed the guide's way, and the checks pass again. Every scenario
  starts from the `provisioned` snapshot, so order does not matter.

  Background:
    Given the lab is reset to the "provisioned" snapshot

  @fault:swap
  Scenario: swap turned back on
    When the "swap" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "swap" fault is healed the guide's way
    Then those checks pass again

  @fault:br-netfilter
  Scenario: br_netfilter not loaded
    When the "br-netfilter" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "br-netfilter" fault is healed the guide's way
    Then those checks pass again

  @fault:port-6443
  Scenario: port 6443 already taken
    When the "port-6443" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "port-6443" fault is healed the guide's way
    Then those checks pass again

  @fault:cgroup-driver
  Scenario: Docker on cgroupfs while the kubelet expects systemd
    When the "cgroup-driver" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "cgroup-driver" fault is healed the guide's way
    Then those checks pass again

  @fault:network-manager
  Scenario: NetworkManager installed and managing interfaces
    When the "network-manager" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "network-manager" fault is healed the guide's way
    Then those checks pass again

  @fault:security-group
  Scenario: the cloud's default security group drops BGP and IPIP
    Then the BGP mesh is Established
    When the "security-group" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "security-group" fault is healed the guide's way
    Then those checks pass again

  @fault:security-group-ipip
  Scenario: a security group that drops only IP protocol 4
    Then the BGP mesh is Established
    When the "security-group-ipip" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "security-group-ipip" fault is healed the guide's way
    Then those checks pass again

  @fault:clone-identity
  Scenario: a clone that kept its source's MAC, product_uuid and machine-id
    When the "clone-identity" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "clone-identity" fault is healed the guide's way
    Then those checks pass again

  @fault:link-down
  Scenario: the cloud cuts a VM's network until it is rebooted
    When the "link-down" fault is injected
    Then kubelab retries with backoff and diagnoses the node as unreachable
    When the "link-down" fault is healed the guide's way
    Then every node answers ssh again

  @fault:static-ip
  Scenario: a clone's address changed inside the guest while its port allows only the old one
    When the "static-ip" fault is injected
    Then the checks it breaks fail with the guide's remediation
    When the "static-ip" fault is healed the guide's way
    Then those checks pass again

  @fault:join-token-expired
  Scenario: joining with an expired token
    When the "join-token-expired" fault is injected
    Then the checks it breaks fail with the guide's remediation
