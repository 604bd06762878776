namespace Diffusion.Core.Graphs.Architectures;

/// <summary>
/// transformers' <c>T5Attention._relative_position_bucket</c> for the (bidirectional) encoder: half the buckets per
/// direction, exact distances below a quarter of the buckets, logarithmic ones up to <c>max_distance</c>, the last
/// bucket beyond. Computed here as a table over relative positions −max_distance..max_distance in torch's float32
/// operations (log of distance/max_exact, divided by log(max_distance/max_exact) rounded to float32, times the bucket
/// span, truncated); the graph clamps relative positions into that range, which every farther one shares a bucket with.
/// </summary>
internal static class T5RelativePositionBuckets
{
    /// <summary>The bucket of relative position (memory − query) <c>r</c> at index <c>r + maxDistance</c>.</summary>
    public static long[] Table(int numBuckets, int maxDistance)
    {
        var table = new long[2 * maxDistance + 1];
        for (int r = -maxDistance; r <= maxDistance; r++)
            table[r + maxDistance] = Bucket(r, numBuckets, maxDistance);
        return table;
    }

    /// <summary>One bucket, op by op as transformers computes it in float32.</summary>
    public static long Bucket(int relativePosition, int numBuckets, int maxDistance)
    {
        int half = numBuckets / 2;
        long bucket = relativePosition > 0 ? half : 0;
        int distance = Math.Abs(relativePosition);
        int maxExact = half / 2;
        if (distance < maxExact)
            return bucket + distance;
        float scaledLog = MathF.Log(distance / (float)maxExact) / (float)Math.Log(maxDistance / (double)maxExact) * (half - maxExact);
        long large = maxExact + (long)scaledLog;
        return bucket + Math.Min(large, half - 1);
    }
}
