# Stores keys with Perl's Cache::Memcached::Fast, for the placement tests: the
# client tells no key's server, so the tests read where the keys landed.
# `perl client_cache_memcached_fast.pl store SETTINGS HOST:PORT[:WEIGHT]...`
# reads keys (one per line) on stdin and sets each; SETTINGS: `defaults` or
# `ketama_points=N`, optionally followed by `,namespace=PREFIX` and
# `,hash_namespace=1` (the client's options of those names).
use strict;
use warnings;
use Cache::Memcached::Fast;

my ($mode, $settings, @specs) = @ARGV;
my ($base, @options) = split /,/, defined $settings ? $settings : '';
if (!@specs || $mode ne 'store' || $base !~ /^(defaults|ketama_points=\d+)$/
    || grep { !/^(namespace|hash_namespace)=/ } @options) {
    print STDERR "usage: client_cache_memcached_fast.pl store "
      . "defaults|ketama_points=N[,namespace=PREFIX][,hash_namespace=1] HOST:PORT[:WEIGHT]...\n";
    exit 2;
}
my @servers;
for my $spec (@specs) {
    my ($host, $port, $weight) = split /:/, $spec;
    push @servers, defined $weight ? { address => "$host:$port", weight => $weight }
                                   : "$host:$port";
}
my %options = (servers => \@servers, io_timeout => 5);
$options{ketama_points} = $1 if $base =~ /^ketama_points=(\d+)$/;
for my $o (@options) {
    my ($name, $value) = split /=/, $o, 2;
    $options{$name} = $value;
}
my $memd = Cache::Memcached::Fast->new(\%options);
my @keys;
while (my $key = <STDIN>) {
    $key =~ s/[\r\n]+$//;
    push @keys, $key if $key ne '';
}
# set_multi: the client sends each server its keys in one go
for (my $i = 0; $i < @keys; $i += 1000) {
    my @batch = @keys[$i .. ($i + 999 < $#keys ? $i + 999 : $#keys)];
    my $ok = $memd->set_multi(map { [$_, 'v'] } @batch);
    for my $key (@batch) {
        die "client_cache_memcached_fast: set $key failed\n" unless $ok->{$key};
    }
}
print "stored ", scalar(@keys), "\n";
