@host @identity
Feature: Node identity
  The guide: clones must not share product_uuid or MAC addresses ("必须确保product_uuid的唯一性",
  "如果是复制的虚拟机，则必须确保三台主机的MAC地址的唯一性"), and nodes reach each other by name
  through /etc/hosts.

  @check:identity.hostnames
  Scenario: every node carries the guide's hostname
    Then each node's hostname is the configured one

  @check:identity.unique-macs
  Scenario: MAC addresses are pairwise distinct
    Then no two nodes share a MAC address

  @check:identity.unique-product-uuid
  Scenario: product_uuid is pairwise distinct
    Then no two nodes share a product_uuid

  @check:identity.unique-machine-id
  Scenario: machine-id is pairwise distinct
    Then no two nodes share a machine-id

  @check:identity.unique-host-keys
  Scenario: SSH host keys are pairwise distinct
    Then no two nodes share an SSH host key

  @check:identity.etc-hosts @check:identity.reach-by-name
  Scenario: nodes reach each other by name
    Given /etc/hosts maps every node name to its address
    Then every node pings the other nodes by name

  @check:port.address-allowed
  Scenario: every node uses the address its port allows
    The lab's ports behave like the cloud's: each NIC passes only traffic from the address the
    cloud assigned (libvirt's clean-traffic filter). The guide: "克隆的虚拟机内编辑/etc/network/interface
    修改为固定IP后，需要卸载网卡重新安装，并在安装时固定IP，否则无法联网".
    Then every node uses an address its port allows
