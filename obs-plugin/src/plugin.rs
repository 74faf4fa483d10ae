//! The OBS module entry points (`obs_module_load` & co., via `obs-wrapper`'s macro).

use std::mem::size_of;

use obs_wrapper::module::{LoadContext, Module, ModuleContext};
use obs_wrapper::obs_sys::{obs_register_source_s, obs_source_info};
use obs_wrapper::string::ObsString;
use obs_wrapper::{obs_register_module, obs_string};

use crate::guard;
use crate::log::{self, log_info};
use crate::push;
use crate::source;

/// The module: registers the `ai_avatar` source type.
pub struct AiAvatarModule {
    context: ModuleContext,
    /// OBS copies the struct on registration; it is kept anyway so the pointers it holds
    /// are obviously alive for the module's lifetime.
    source_info: Option<Box<obs_source_info>>,
}

impl Module for AiAvatarModule {
    fn new(context: ModuleContext) -> Self {
        Self {
            context,
            source_info: None,
        }
    }

    fn get_ctx(&self) -> &ModuleContext {
        &self.context
    }

    fn load(&mut self, _load_context: &mut LoadContext) -> bool {
        guard::catch("module load", false, || {
            log::set_obs_logging(true);
            let info = Box::new(source::source_info());
            // SAFETY: a fully initialised `obs_source_info` whose strings are `'static`; the
            // size tells OBS which (libobs 25) fields we know about, the rest stay zero.
            unsafe { obs_register_source_s(&*info, size_of::<obs_source_info>() as _) };
            self.source_info = Some(info);
            log_info!("loaded, version {}", env!("CARGO_PKG_VERSION"));
            true
        })
    }

    fn post_load(&mut self) {
        // obs-websocket publishes its API during its own load, so the vendor requests are
        // registered here, once every module has loaded.
        // SAFETY: this is obs_module_post_load.
        guard::catch("module post_load", (), || unsafe { push::init() });
    }

    fn unload(&mut self) {
        guard::catch("module unload", (), push::unload);
        log_info!("unloaded");
    }

    fn description() -> ObsString {
        obs_string!(
            "AI Avatar: a built-in virtual streamer whose mouth follows the speech it plays, \
             driven by the ai-vstreamer sidecar."
        )
    }

    fn name() -> ObsString {
        obs_string!("AI Avatar")
    }

    fn author() -> ObsString {
        obs_string!("ai-vstreamer contributors")
    }
}

obs_register_module!(AiAvatarModule);
