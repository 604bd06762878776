using System.Security.Cryptography;
using System.Text;

namespace Diffusion.Hub;

/// <summary>
/// Hashes a file as it is written: SHA-256 always (it is what the cache names LFS blobs by and what Civitai publishes),
/// and the git blob id (SHA-1 over <c>"blob SIZE\0"</c> and the bytes) when the hub names a small file by it.
/// </summary>
internal sealed class ContentHasher : IDisposable
{
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
#pragma warning disable CA5350 // SHA-1 here is git's object id, which the hub publishes for non-LFS files; not a security choice
    private readonly IncrementalHash? _gitBlob;
#pragma warning restore CA5350

    private readonly byte[]? _gitBlobHeader;

    public ContentHasher(long? gitBlobSize)
    {
        if (gitBlobSize is long size)
        {
#pragma warning disable CA5350
            _gitBlob = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
#pragma warning restore CA5350
            _gitBlobHeader = Encoding.ASCII.GetBytes($"blob {size}\0");
            _gitBlob.AppendData(_gitBlobHeader);
        }
    }

    /// <summary>Starts over (the file was cut back to empty).</summary>
    public void Reset()
    {
        _ = _sha256.GetHashAndReset();
        if (_gitBlob is not null)
        {
            _ = _gitBlob.GetHashAndReset();
            _gitBlob.AppendData(_gitBlobHeader!);
        }
        Length = 0;
    }

    /// <summary>Bytes hashed so far.</summary>
    public long Length { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        _sha256.AppendData(data);
        _gitBlob?.AppendData(data);
        Length += data.Length;
    }

    public string Sha256() => Convert.ToHexString(_sha256.GetCurrentHash()).ToLowerInvariant();

    public string? GitBlobSha1() => _gitBlob is null ? null : Convert.ToHexString(_gitBlob.GetCurrentHash()).ToLowerInvariant();

    public void Dispose()
    {
        _sha256.Dispose();
        _gitBlob?.Dispose();
    }
}
