//! Parsers for the real outputs the checks read: one submodule per tool family. Each parser is
//! pure (`&str` in, typed value out) and unit-tested on authentic samples whose origin is named
//! beside the sample. Main error type: [`ParseError`].

mod bgp;
mod boot;
mod capture;
mod component_config;
mod egress;
mod error;
mod host;
mod ipvs;
mod kube;
mod kubeadm;
mod kubetext;
mod net;
mod port;

pub use bgp::{
    BGP_STATES, BgpPeer, BirdProtocol, BirdProtocols, CalicoNodeStatus, bird_bgp_peers, parse_birdc_protocols, parse_calicoctl_node_status,
};
pub use boot::{
    ChainLink, CloudInitEvent, CloudInitStage, StartupTime, UnitTime, parse_cloud_init_blame, parse_cloud_init_dump, parse_cloud_init_show,
    parse_critical_chain, parse_systemctl_show, parse_systemd_analyze_time, parse_systemd_blame, parse_timespan,
};
pub use capture::{OTHER_COMMAND, bare_command, clean_capture, probe_commands, probe_of_command, prompt_command};
pub use component_config::{
    KubeProxyConfiguration, KubeProxyIpvsConfiguration, KubeletConfiguration, parse_kube_proxy_configuration, parse_kubelet_configuration,
};
pub use egress::{Download, FloatingIp, parse_egress, parse_nft_floating_ips};
pub use error::ParseError;
pub use host::{
    KubeletConfig, Listener, NetworkManagerStatus, ServingCert, SwapArea, SysctlOutput, docker_cgroup_driver, docker_daemon_down,
    fstab_swap_lines, kubelet_swap_error, nmcli_devices, parse_kubelet_config, parse_lsmod, parse_network_manager, parse_proc_swaps,
    parse_serving_cert, parse_ss_listeners, parse_swapon_show, parse_sysctl, parse_sysctl_output, sysctl_value_only,
};
pub use ipvs::{IPVS_NOT_LOADED, PROXY_MODES, RealServer, VirtualService, parse_ipvsadm, parse_proxy_mode};
pub use kube::{
    CsrCondition, CsrSummary, LoadBalancerSummary, NodeSummary, PodSummary, apiservice_available, configmap_data, csr_summary, csrs,
    items_as, list_items, load_balancers, node_metrics_names, node_summary, nodes, parse_helm_short, parse_json, parse_kubectl_table,
    pod_summary, pods, services, typed, version_git,
};
pub use kubeadm::{JoinFailure, KubeadmJoin, PreflightError, parse_kubeadm_join};
pub use kubetext::{
    Condition, CsrRow, LbRow, NodeRow, PodRow, TextTable, conditions_in, csr_rows, error_line, is_klog, json_in, kube_proxy_config,
    lb_rows, loose_key, node_rows, pod_rows, table_in,
};
pub use net::{Link, Reach, Route, TunnelDevice, parse_etc_hosts, parse_ip_link, parse_ip_route, parse_reach_lines, parse_tunl0};
pub use port::{InetAddr, parse_ip_addr_o4};
