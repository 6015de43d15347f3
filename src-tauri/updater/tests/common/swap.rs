//! The folder-swap fixture: an installed tree of 0.1.0 under
//! `apps/Hudson`, its data folder holding a database, an app-data folder,
//! and a loopback server to publish 0.2.0 (or a hostile archive) on.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};

use hudson_updater::install::Step;
use hudson_updater::state::{Journal, Store};
use hudson_updater::{
    CheckOutcome, Downloaded, InstallContext, InstallKind, Installed, Layout, PackageCommand, PackageRunner, Startup,
    UnpackLimits, startup,
};
use signing::manifest::ManifestKind;

use super::*;

pub const DB: &str = "db/app.sqlite";

/// Records package commands instead of running them.
#[derive(Default)]
pub struct Recorder(pub RefCell<Vec<String>>);

impl PackageRunner for Recorder {
    fn run(&self, command: &PackageCommand) -> Result<(), String> {
        self.0.borrow_mut().push(command.to_string());
        Ok(())
    }
}

pub struct Env {
    pub server: Server,
    pub _dir: tempfile::TempDir,
    pub app_data: PathBuf,
    pub data_dir: PathBuf,
    pub install: PathBuf,
    pub old_hash: String,
    pub new_hash: String,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let install = dir.path().join("apps/Hudson");
        write_tree(&install, "0.1.0");
        let scratch = dir.path().join("scratch/Hudson");
        write_tree(&scratch, "0.2.0");
        let new_hash = tree_hash(&scratch);
        let data_dir = dir.path().join("data");
        fs::create_dir_all(data_dir.join("db")).unwrap();
        fs::write(data_dir.join(DB), "schema 1").unwrap();
        let env = Env {
            server: Server::start(),
            app_data: dir.path().join("app-data"),
            old_hash: tree_hash(&install),
            new_hash,
            _dir: dir,
            data_dir,
            install,
        };
        assert_ne!(env.old_hash, env.new_hash);
        env
    }

    pub fn publish_tree(&self, version: &str, sequence: u64, archive: Vec<u8>) {
        let name = format!("Hudson-{version}-x86_64-unknown-linux-gnu.tar.gz");
        let art = artifact(&self.server, &name, version, archive, &release_key().secret);
        publish(
            &self.server,
            &manifest(ManifestKind::Release, version, sequence, &[(PLATFORM, &art)]),
            &release_key().secret,
        );
    }

    /// Publishes `version` (the tree `write_tree` makes) with its files in
    /// the store and its tree manifest named by the signed entry.
    pub fn publish_store_tree(&self, version: &str, sequence: u64) {
        let scratch = tempfile::tempdir().unwrap();
        write_tree(&scratch.path().join("Hudson"), version);
        let tree = super::store::store_dir(&self.server, &scratch.path().join("Hudson"), version);
        let bound = super::store::serve_tree(&self.server, &tree.to_json());
        let name = format!("Hudson-{version}-x86_64-unknown-linux-gnu.tar.gz");
        let mut art = artifact(&self.server, &name, version, tree_tar_gz(version, "Hudson"), &release_key().secret);
        art.entry.tree = Some(bound);
        publish(
            &self.server,
            &manifest(ManifestKind::Release, version, sequence, &[(PLATFORM, &art)]),
            &release_key().secret,
        );
    }

    /// What the session fetches for a folder swap whose release is in the
    /// store: the tree manifest and the objects this install lacks.
    pub fn fetch_tree(&self, installed: &str) -> (Downloaded, hudson_updater::Assembled) {
        let u = updater(&self.server, &self.app_data, installed, PLATFORM);
        let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!("expected an offer") };
        u.fetch_tree(&update, &self.install, UnpackLimits::default(), &mut |_| {}).unwrap()
    }

    pub fn download(&self, installed: &str) -> Downloaded {
        let u = updater(&self.server, &self.app_data, installed, PLATFORM);
        let CheckOutcome::Offered(update) = u.check().unwrap() else { panic!("expected an offer") };
        u.download(&update, &mut |_| {}).unwrap()
    }

    pub fn install(&self, downloaded: Downloaded, hook: Option<&dyn Fn(Step)>) -> hudson_updater::Result<Installed> {
        let check = names_version(&downloaded);
        let mut stop = || Ok(());
        let runner = Recorder::default();
        let ctx = InstallContext {
            check_staged: &check,
            stop_backend: &mut stop,
            runner: &runner,
            limits: UnpackLimits::default(),
            crash_hook: hook,
        };
        updater(&self.server, &self.app_data, "0.1.0", PLATFORM).install(downloaded, &self.layout(), ctx)
    }

    /// Stages `downloaded` beside the install as the session does once an
    /// update is verified; the backend must keep running meanwhile.
    pub fn prepare(&self, downloaded: &Downloaded, hook: Option<&dyn Fn(Step)>) -> hudson_updater::Result<()> {
        let check = names_version(downloaded);
        let mut stop = || -> Result<(), String> { panic!("preparing an update stopped the backend") };
        let runner = Recorder::default();
        let mut ctx = InstallContext {
            check_staged: &check,
            stop_backend: &mut stop,
            runner: &runner,
            limits: UnpackLimits::default(),
            crash_hook: hook,
        };
        updater(&self.server, &self.app_data, "0.1.0", PLATFORM).prepare(downloaded, &self.layout(), &mut ctx)
    }

    /// The one configured data file is the database: its `-wal`, `-shm`
    /// and `-journal` come with it.
    pub fn layout(&self) -> Layout {
        let kind = InstallKind::FolderSwap { install: self.install.clone() };
        Layout::new(&self.app_data, &self.data_dir, &[PathBuf::from(DB)], Some(kind)).unwrap()
    }

    pub fn sibling(&self, suffix: &str) -> PathBuf {
        self.install.parent().unwrap().join(format!(".Hudson.{suffix}"))
    }

    pub fn journal(&self) -> Option<Journal> {
        Store::new(&self.app_data).load().unwrap().state.journal
    }

    pub fn startup(&self, installed: &str) -> Startup {
        startup(&self.layout(), &v(installed), &Recorder::default()).unwrap()
    }

    pub fn data(&self) -> String {
        fs::read_to_string(self.data_dir.join(DB)).unwrap()
    }
}

/// The staged check the shell makes: the tree's `hudson-shell.json` names
/// the offered version.
fn names_version(downloaded: &Downloaded) -> impl Fn(&Path) -> Result<(), String> + use<> {
    let expected = downloaded.update().version.to_string();
    move |staging: &Path| {
        let text = fs::read_to_string(staging.join("hudson-shell.json")).map_err(|e| e.to_string())?;
        if text.contains(&expected) { Ok(()) } else { Err(format!("staged tree is not {expected}: {text}")) }
    }
}

pub fn crash_at(step: Step) -> impl Fn(Step) {
    move |at| {
        if at == step {
            panic!("simulated crash at {at:?}");
        }
    }
}

/// One tar entry with a hand-made GNU header (names up to 100 bytes).
pub fn raw_entry(builder: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

/// A gzipped archive of the top folder `Hudson/`, a `hudson-shell.json`
/// of 0.2.0 and `entries`.
pub fn hostile(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(&mut builder, "Hudson/", tar::EntryType::Directory, "", b"");
    raw_entry(&mut builder, "Hudson/hudson-shell.json", tar::EntryType::Regular, "", b"{\"version\":\"0.2.0\"}");
    for (name, kind, link, data) in entries {
        raw_entry(&mut builder, name, *kind, link, data);
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}
