# Perl: a word -> [line numbers] index of a CSV of source lines, 300k Zipf-skewed lookups
# with 5% appends, the lines sorted by text, then a pass over every posting.
use strict;
use warnings;
my (%index, @lines);
open(my $in, '<', $ARGV[0]) or die "$ARGV[0]: $!";
<$in>;
while (my $line = <$in>) {
    chomp $line;
    push @lines, $line;
    my %seen;
    $seen{$_}++ or push @{ $index{$_} }, $#lines for $line =~ /([A-Za-z_][A-Za-z0-9_]{2,})/g;
}
my @words = sort { @{ $index{$b} } <=> @{ $index{$a} } or $a cmp $b } keys %index;
my ($seed, $hits) = (1, 0);
for (1 .. 300_000) {
    $seed = ($seed * 1103515245 + 12345) % 2147483648;
    my $i = int((($seed + 1) / 2147483648) ** (-1 / 1.1)) - 1;
    $i = $#words if $i > $#words;
    my $postings = $index{ $words[$i] };
    $hits += @$postings;
    push @$postings, $hits if $seed % 20 == 0;
}
my @sorted = sort { (split /,/, $a, 3)[2] cmp (split /,/, $b, 3)[2] } @lines;
my $total = 0;
$total += @$_ for values %index;
print scalar(@lines), " ", scalar(@words), " $hits $total ", length($sorted[0]), "\n";
