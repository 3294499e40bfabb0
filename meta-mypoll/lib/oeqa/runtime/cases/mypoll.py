#
# SPDX-License-Identifier: MIT
#
# Runtime tests of mypoll-image: the device, the daemon, and a round trip
# on the daemon's socket (PROTOCOL.md A.5 "echo"). Run with
# TEST_SUITES = "ping ssh mypoll" and `bitbake mypoll-image -c testimage`.

from oeqa.runtime.case import OERuntimeTestCase
from oeqa.core.decorator.depends import OETestDepends
from oeqa.runtime.decorator.package import OEHasPackage


class MypollTest(OERuntimeTestCase):

    @OETestDepends(['ssh.SSHTest.test_ssh'])
    def test_mypoll_device(self):
        # Not @OEHasPackage(['kernel-module-mypoll']): that name is only an
        # alias; the image manifest lists kernel-module-mypoll-<kernel
        # version>, which OEHasPackage never matches.
        if not any(p.startswith('kernel-module-mypoll') for p in self.tc.image_packages):
            self.skipTest('Test requires kernel-module-mypoll-<kernel version> to be installed')
        status, output = self.target.run('lsmod')
        self.assertEqual(status, 0, msg='lsmod failed: %s' % output)
        self.assertIn('mypoll', output, msg='mypoll.ko not loaded:\n%s' % output)
        status, output = self.target.run('test -c /dev/mypoll')
        self.assertEqual(status, 0, msg='/dev/mypoll is not a character device')

    @OETestDepends(['mypoll.MypollTest.test_mypoll_device'])
    @OEHasPackage(['mypolld'])
    def test_mypolld_running(self):
        status, output = self.target.run('pidof mypolld')
        self.assertEqual(status, 0, msg='mypolld is not running')
        status, output = self.target.run('test -S /run/mypoll/mypoll.sock')
        self.assertEqual(status, 0, msg='no socket /run/mypoll/mypoll.sock')

    @OETestDepends(['mypoll.MypollTest.test_mypolld_running'])
    @OEHasPackage(['mypolld'])
    def test_mypolld_user(self):
        # mypolld runs as user mypoll (README.md, "Users and groups on the
        # board"), and /dev/mypoll is group mypoll, mode 0660.
        status, output = self.target.run('stat -c %U /proc/$(pidof mypolld)')
        self.assertEqual(status, 0, msg='stat /proc/<mypolld> failed: %s' % output)
        self.assertEqual(output.strip(), 'mypoll', msg='mypolld runs as %s' % output)
        status, output = self.target.run('stat -L -c "%a %G" /dev/mypoll')
        self.assertEqual(status, 0, msg='stat /dev/mypoll failed: %s' % output)
        self.assertEqual(output.strip(), '660 mypoll', msg='/dev/mypoll: %s' % output)

    @OETestDepends(['mypoll.MypollTest.test_mypolld_running'])
    @OEHasPackage(['mypolld'])
    def test_mypolld_echo(self):
        text = 'oeqa-round-trip-42'
        status, output = self.target.run('mypollctl echo %s' % text)
        self.assertEqual(status, 0, msg='mypollctl echo failed: %s' % output)
        self.assertIn(text, output, msg='echo reply lacks the text: %s' % output)
        status, output = self.target.run('mypollctl stats')
        self.assertEqual(status, 0, msg='mypollctl stats failed: %s' % output)
        self.assertIn('clients', output, msg='stats reply: %s' % output)
