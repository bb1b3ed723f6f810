// Confinement: no path a guest can name - absolute or relative symlinks, "..", chains,
// /proc magic links - reaches a file outside its tenant root. Marker files sit next to the root
// and above it; every test proves they are never read, changed, listed or replaced, and that
// what does resolve lands inside the root, as it would for a process chrooted there.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

#include "test_util.h"
#include "transport/file_client.h"

namespace tw::system_vm {
namespace {

using testing::Exists;
using testing::ReadFile;
using testing::ServerThread;
using testing::TempDir;
using testing::WriteFile;
using transport::FileClient;
using transport::Handle;
using transport::kCwdHandle;

constexpr const char* kMarker = "MARKER-OUTSIDE-THE-ROOT";

class ConfinementTest : public ::testing::Test {
protected:
    void SetUp() override {
        base_ = dir_.path();
        tenants_ = base_ + "/tenants";
        root_ = tenants_ + "/victim";
        ASSERT_EQ(mkdir(tenants_.c_str(), 0755), 0);
        ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
        ASSERT_EQ(mkdir((tenants_ + "/other").c_str(), 0755), 0);

        // Markers: above the root, beside it, and in another tenant.
        WriteFile(base_ + "/MARKER", kMarker);
        WriteFile(tenants_ + "/MARKER", kMarker);
        WriteFile(tenants_ + "/other/MARKER", kMarker);

        // Inside the root: an /etc with a passwd of its own, and a nest of hostile links.
        ASSERT_EQ(mkdir((root_ + "/etc").c_str(), 0755), 0);
        ASSERT_EQ(mkdir((root_ + "/a").c_str(), 0755), 0);
        ASSERT_EQ(mkdir((root_ + "/a/b").c_str(), 0755), 0);
        WriteFile(root_ + "/etc/passwd", "inside-passwd");
        WriteFile(root_ + "/a/b/file", "inside-file");
        Link("/etc", "abs");
        Link("../../..", "rel");
        Link("../../../../../../../../../../..", "a/b/deep");
        Link("chain2", "chain1");
        Link("../chain3", "chain2");
        Link("a/../../..", "chain3");
        Link("/proc/self/root", "procroot");
        Link("/proc/self/cwd", "proccwd");
        Link(base_ + "/MARKER", "hostmarker");  // absolute host path of the marker
        Link(base_, "hostbase");
        Link("../MARKER", "dotdotmarker");
        Link("../other/MARKER", "othermarker");
        Link("/created-through-link", "dangling-abs");
        Link("../../created-through-rel", "dangling-rel");
        Link("loop2", "loop1");
        Link("loop1", "loop2");

        auto [c, s] = transport::MakeInProcessPair();
        server_ = std::make_unique<ServerThread>(tenants_, std::move(s));
        auto client = FileClient::Open(std::move(c), 1, "victim");
        ASSERT_TRUE(client.ok()) << client.error().ToString();
        client_ = std::move(*client);
    }

    void TearDown() override {
        client_.reset();
        server_.reset();
        // Whatever ran, the markers are untouched and nothing was created next to them.
        EXPECT_EQ(ReadFile(base_ + "/MARKER"), kMarker);
        EXPECT_EQ(ReadFile(tenants_ + "/MARKER"), kMarker);
        EXPECT_EQ(ReadFile(tenants_ + "/other/MARKER"), kMarker);
        EXPECT_FALSE(Exists("/created-through-link"));
        for (const std::string& dir : {base_, tenants_, tenants_ + "/other"}) {
            size_t entries = 0;
            for (auto& e : std::filesystem::directory_iterator(dir)) {
                (void)e;
                ++entries;
            }
            size_t expected = dir == base_ ? 2 : dir == tenants_ ? 3 : 1;
            EXPECT_EQ(entries, expected) << "something appeared in " << dir;
        }
    }

    void Link(const std::string& target, const std::string& name) {
        ASSERT_EQ(symlink(target.c_str(), (root_ + "/" + name).c_str()), 0) << name;
    }

    // Opens and reads `path`: the content, or "errno:N".
    std::string Slurp(Handle dir, const std::string& path) {
        int64_t h = client_->OpenAt(dir, path, O_RDONLY, 0);
        if (h < 0) {
            return "errno:" + std::to_string(-h);
        }
        std::vector<std::byte> buf(4096);
        int64_t n = client_->Read(static_cast<Handle>(h), buf);
        client_->Close(static_cast<Handle>(h));
        if (n < 0) {
            return "errno:" + std::to_string(-n);
        }
        return std::string(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
    }

    // The paths an escape would use to reach one of the markers.
    std::vector<std::string> EscapePaths() {
        return {"/../MARKER",          "../MARKER",        "../../MARKER",       "../../../MARKER",
                "/../../../../MARKER", "rel/MARKER",       "a/b/deep/MARKER",    "chain1/MARKER",
                "abs/../../MARKER",    "hostmarker",       "dotdotmarker",       "othermarker",
                "../other/MARKER",     "hostbase/MARKER",  "a/../../MARKER",     base_ + "/MARKER",
                tenants_ + "/MARKER",  "//..//..//MARKER", "a/b/../../../MARKER"};
    }

    TempDir dir_;
    std::string base_;
    std::string tenants_;
    std::string root_;
    std::unique_ptr<ServerThread> server_;
    std::unique_ptr<FileClient> client_;
};

TEST_F(ConfinementTest, EscapePathsDoNotOpenMarkers) {
    for (const std::string& p : EscapePaths()) {
        EXPECT_EQ(Slurp(kCwdHandle, p), "errno:" + std::to_string(ENOENT)) << p;
    }
}

TEST_F(ConfinementTest, AbsoluteAndDotDotResolveInsideTheRoot) {
    EXPECT_EQ(Slurp(kCwdHandle, "/etc/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(kCwdHandle, "abs/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(kCwdHandle, "rel/etc/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(kCwdHandle, "a/b/deep/etc/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(kCwdHandle, "chain1/etc/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(kCwdHandle, "../../../../etc/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(kCwdHandle, "/etc/shadow"), "errno:" + std::to_string(ENOENT));
    EXPECT_EQ(Slurp(kCwdHandle, "../../etc/shadow"), "errno:" + std::to_string(ENOENT));
}

TEST_F(ConfinementTest, ProcSelfReferencesStayInside) {
    // The root has no /proc, so these name nothing; they never reach the server's own /proc.
    EXPECT_EQ(Slurp(kCwdHandle, "procroot/etc/passwd"), "errno:" + std::to_string(ENOENT));
    EXPECT_EQ(Slurp(kCwdHandle, "/proc/self/root/etc/passwd"), "errno:" + std::to_string(ENOENT));
    EXPECT_EQ(Slurp(kCwdHandle, "proccwd/MARKER"), "errno:" + std::to_string(ENOENT));
}

TEST_F(ConfinementTest, SymlinkLoopIsEloop) {
    EXPECT_EQ(Slurp(kCwdHandle, "loop1"), "errno:" + std::to_string(ELOOP));
}

TEST_F(ConfinementTest, StatThroughEscapesNeverSeesMarkers) {
    struct stat marker;
    ASSERT_EQ(stat((base_ + "/MARKER").c_str(), &marker), 0);
    for (const std::string& p : EscapePaths()) {
        struct stat st {};
        EXPECT_EQ(client_->StatAt(kCwdHandle, p, 0, &st), -ENOENT) << p;
        struct statx stx {};
        EXPECT_EQ(client_->Statx(kCwdHandle, p, 0, STATX_INO, &stx), -ENOENT) << p;
        EXPECT_EQ(client_->FaccessAt(kCwdHandle, p, F_OK, 0), -ENOENT) << p;
    }
    // lstat of the links themselves works and shows links, not their targets.
    struct stat st {};
    EXPECT_EQ(client_->StatAt(kCwdHandle, "hostmarker", AT_SYMLINK_NOFOLLOW, &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_NE(st.st_ino, marker.st_ino);
    // ".." of the root is the root.
    struct stat root_st, dotdot{};
    ASSERT_EQ(stat(root_.c_str(), &root_st), 0);
    EXPECT_EQ(client_->StatAt(kCwdHandle, "/..", 0, &dotdot), 0);
    EXPECT_EQ(dotdot.st_ino, root_st.st_ino);
    EXPECT_EQ(client_->StatAt(kCwdHandle, "../..", AT_SYMLINK_NOFOLLOW, &dotdot), 0);
    EXPECT_EQ(dotdot.st_ino, root_st.st_ino);
}

TEST_F(ConfinementTest, ListingDotDotListsTheRoot) {
    int64_t h = client_->OpenAt(kCwdHandle, "../..", O_RDONLY | O_DIRECTORY, 0);
    ASSERT_GE(h, 0);
    std::vector<std::byte> buf(8192);
    int64_t n = client_->Getdents64(static_cast<Handle>(h), buf);
    ASSERT_GT(n, 0);
    bool saw_etc = false;
    for (int64_t off = 0; off < n;) {
        auto* d = reinterpret_cast<const dirent64*>(buf.data() + off);
        EXPECT_STRNE(d->d_name, "MARKER");
        EXPECT_STRNE(d->d_name, "tenants");
        EXPECT_STRNE(d->d_name, "other");
        saw_etc |= std::strcmp(d->d_name, "etc") == 0;
        off += d->d_reclen;
    }
    EXPECT_TRUE(saw_etc);
}

TEST_F(ConfinementTest, ReadlinkReturnsLinkTextButNeverFollowsOut) {
    std::vector<std::byte> buf(PATH_MAX);
    int64_t n = client_->ReadlinkAt(kCwdHandle, "hostmarker", buf);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n)),
              base_ + "/MARKER");
    // A link reached through an escaping link is looked up inside the root.
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "rel/hostmarker", buf), n);
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "hostbase/anything", buf), -ENOENT);
    EXPECT_EQ(client_->ReadlinkAt(kCwdHandle, "../../MARKER", buf), -ENOENT);
}

TEST_F(ConfinementTest, MkdirThroughLinksLandsInside) {
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "rel/made-by-rel", 0755), 0);
    EXPECT_TRUE(Exists(root_ + "/made-by-rel"));
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "abs/made-by-abs", 0755), 0);
    EXPECT_TRUE(Exists(root_ + "/etc/made-by-abs"));
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "../../made-by-dotdot", 0755), 0);
    EXPECT_TRUE(Exists(root_ + "/made-by-dotdot"));
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "hostbase/x", 0755), -ENOENT);
    EXPECT_EQ(client_->MkdirAt(kCwdHandle, "hostmarker", 0755), -EEXIST);  // the link itself
}

TEST_F(ConfinementTest, UnlinkAndRenameCannotTouchMarkers) {
    for (const std::string& p : EscapePaths()) {
        int64_t r = client_->UnlinkAt(kCwdHandle, p, 0);
        // A link named directly (hostmarker, ...) is the tenant's own and may go; everything
        // else names a marker that is not in the root.
        if (r == 0) {
            EXPECT_EQ(p.find('/'), std::string::npos) << p;
        } else {
            EXPECT_EQ(r, -ENOENT) << p;
        }
    }
    WriteFile(root_ + "/mine", "mine");
    for (const std::string& p : EscapePaths()) {
        EXPECT_EQ(client_->RenameAt2(kCwdHandle, p, kCwdHandle, "stolen", 0), -ENOENT) << p;
    }
    // Renaming a file "out" lands it inside the root.
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "mine", kCwdHandle, "../../../../moved", 0), 0);
    EXPECT_EQ(ReadFile(root_ + "/moved"), "mine");
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "moved", kCwdHandle, "rel/moved2", 0), 0);
    EXPECT_EQ(ReadFile(root_ + "/moved2"), "mine");
    EXPECT_EQ(client_->RenameAt2(kCwdHandle, "moved2", kCwdHandle, "hostbase/moved3", 0), -ENOENT);
}

TEST_F(ConfinementTest, CreateThroughDanglingLinksLandsInside) {
    int64_t h = client_->OpenAt(kCwdHandle, "dangling-abs", O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(h, 0);
    EXPECT_TRUE(Exists(root_ + "/created-through-link"));
    h = client_->OpenAt(kCwdHandle, "dangling-rel", O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(h, 0);
    EXPECT_TRUE(Exists(root_ + "/created-through-rel"));
    EXPECT_EQ(client_->OpenAt(kCwdHandle, "dangling-abs", O_WRONLY | O_CREAT | O_EXCL, 0644),
              -EEXIST);
    EXPECT_EQ(client_->OpenAt(kCwdHandle, "hostbase/new", O_WRONLY | O_CREAT, 0644), -ENOENT);
    EXPECT_EQ(client_->OpenAt(kCwdHandle, "../../MARKER", O_WRONLY | O_TRUNC, 0), -ENOENT);
}

TEST_F(ConfinementTest, WorkingDirectoryClampsAtTheRoot) {
    std::vector<std::byte> buf(PATH_MAX);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "../../.."), 0);
    EXPECT_EQ(client_->Getcwd(buf), 2);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "rel"), 0);
    EXPECT_EQ(client_->Getcwd(buf), 2);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "hostbase"), -ENOENT);
    EXPECT_EQ(client_->ChdirAt(kCwdHandle, "a/b"), 0);
    EXPECT_EQ(Slurp(kCwdHandle, "file"), "inside-file");
    EXPECT_EQ(Slurp(kCwdHandle, "../../../../../MARKER"), "errno:" + std::to_string(ENOENT));
    EXPECT_EQ(Slurp(kCwdHandle, "../../../../../etc/passwd"), "inside-passwd");
    EXPECT_EQ(client_->Getcwd(buf), 5);
    EXPECT_STREQ(reinterpret_cast<const char*>(buf.data()), "/a/b");
}

TEST_F(ConfinementTest, DirectoryHandlesClampAtTheRoot) {
    int64_t d = client_->OpenAt(kCwdHandle, "a/b", O_RDONLY | O_DIRECTORY, 0);
    ASSERT_GE(d, 0);
    EXPECT_EQ(Slurp(static_cast<Handle>(d), "../../../MARKER"), "errno:" + std::to_string(ENOENT));
    EXPECT_EQ(Slurp(static_cast<Handle>(d), "deep/etc/passwd"), "inside-passwd");
    EXPECT_EQ(Slurp(static_cast<Handle>(d), "../../../../etc/passwd"), "inside-passwd");
    EXPECT_EQ(client_->MkdirAt(static_cast<Handle>(d), "../../../../up", 0755), 0);
    EXPECT_TRUE(Exists(root_ + "/up"));
}

TEST_F(ConfinementTest, DirectoryMovedOutOfTheRootIsGone) {
    // Only someone outside the tenant can do this; the server must not follow it out.
    ASSERT_EQ(mkdir((root_ + "/leaving").c_str(), 0755), 0);
    int64_t d = client_->OpenAt(kCwdHandle, "leaving", O_RDONLY | O_DIRECTORY, 0);
    ASSERT_GE(d, 0);
    ASSERT_EQ(rename((root_ + "/leaving").c_str(), (base_ + "/left").c_str()), 0);
    EXPECT_EQ(Slurp(static_cast<Handle>(d), "../MARKER"), "errno:" + std::to_string(ENOENT));
    EXPECT_EQ(client_->MkdirAt(static_cast<Handle>(d), "x", 0755), -ENOENT);
    ASSERT_EQ(rename((base_ + "/left").c_str(), (root_ + "/leaving").c_str()), 0);
}

// An operator may point a tenant at a tree that holds a real /proc (here: "/" itself). The
// /proc magic links must still be refused.
TEST(ConfinementMagicLinks, ProcMagicLinksAreRefused) {
    TempDir dir;
    std::string tenants = dir.path() + "/tenants";
    ASSERT_EQ(mkdir(tenants.c_str(), 0755), 0);
    ASSERT_EQ(symlink("/", (tenants + "/hostroot").c_str()), 0);
    auto [c, s] = transport::MakeInProcessPair();
    ServerThread server(tenants, std::move(s));
    auto client = FileClient::Open(std::move(c), 1, "hostroot");
    ASSERT_TRUE(client.ok());
    FileClient& fc = **client;
    EXPECT_EQ(fc.OpenAt(kCwdHandle, "/proc/self/root/etc/hostname", O_RDONLY, 0), -ELOOP);
    EXPECT_EQ(fc.OpenAt(kCwdHandle, "/proc/self/cwd", O_RDONLY, 0), -ELOOP);
    EXPECT_EQ(fc.OpenAt(kCwdHandle, "/proc/self/fd/0", O_RDONLY, 0), -ELOOP);
    EXPECT_EQ(fc.OpenAt(kCwdHandle, "/proc/self/exe", O_RDONLY, 0), -ELOOP);
    struct stat st;
    EXPECT_EQ(fc.StatAt(kCwdHandle, "/proc/self/root", 0, &st), -ELOOP);
    EXPECT_EQ(fc.ChdirAt(kCwdHandle, "/proc/self/cwd"), -ELOOP);
}

}  // namespace
}  // namespace tw::system_vm
