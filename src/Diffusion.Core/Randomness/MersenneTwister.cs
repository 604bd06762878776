using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Diffusion.Core.Randomness;

/// <summary>
/// The 32-bit Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998) seeded with the 2002
/// <c>init_genrand</c> recurrence. Both torch's CPU generator (<c>at::mt19937</c>, seeded with the low
/// 32 bits of the 64-bit seed) and numpy's <c>RandomState(int)</c> (<c>mt19937_seed</c>) start this way,
/// so one engine serves both reference sources.
/// </summary>
internal sealed class MersenneTwister
{
    private const int StateLength = 624;
    private const int ShiftSize = 397;
    private const uint MatrixA = 0x9908B0DF;
    private const uint UpperMask = 0x80000000;
    private const uint LowerMask = 0x7FFFFFFF;

    private readonly uint[] _state = new uint[StateLength];
    private int _next;

    /// <summary>Seeds the engine with <c>init_genrand(seed)</c>.</summary>
    public MersenneTwister(uint seed)
    {
        _state[0] = seed;
        for (uint i = 1; i < StateLength; i++)
        {
            uint previous = _state[i - 1];
            _state[i] = 1812433253u * (previous ^ (previous >> 30)) + i;
        }
        // The first draw regenerates the whole state, as both references do.
        _next = StateLength;
    }

    /// <summary>Returns the next tempered 32-bit output.</summary>
    public uint NextUInt32()
    {
        if (_next >= StateLength)
            Regenerate();
        return Temper(_state[_next++]);
    }

    /// <summary>Fills <paramref name="destination"/> with successive outputs (same as calling <see cref="NextUInt32"/> in a loop).</summary>
    public void Fill(Span<uint> destination)
    {
        uint[] state = _state;
        int written = 0;
        while (written < destination.Length)
        {
            if (_next >= StateLength)
                Regenerate();
            int count = Math.Min(StateLength - _next, destination.Length - written);
            Span<uint> target = destination.Slice(written, count);
            ReadOnlySpan<uint> source = state.AsSpan(_next, count);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                ref uint sourceStart = ref MemoryMarshal.GetReference(source);
                ref uint targetStart = ref MemoryMarshal.GetReference(target);
                for (; i <= count - Vector256<uint>.Count; i += Vector256<uint>.Count)
                    Temper(Vector256.LoadUnsafe(ref sourceStart, (nuint)i)).StoreUnsafe(ref targetStart, (nuint)i);
            }
            for (; i < target.Length; i++)
                target[i] = Temper(source[i]);
            _next += count;
            written += count;
        }
    }

    private static uint Temper(uint y)
    {
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C5680;
        y ^= (y << 15) & 0xEFC60000;
        y ^= y >> 18;
        return y;
    }

    private static Vector256<uint> Temper(Vector256<uint> y)
    {
        y ^= Vector256.ShiftRightLogical(y, 11);
        y ^= Vector256.ShiftLeft(y, 7) & Vector256.Create(0x9D2C5680u);
        y ^= Vector256.ShiftLeft(y, 15) & Vector256.Create(0xEFC60000u);
        y ^= Vector256.ShiftRightLogical(y, 18);
        return y;
    }

    private void Regenerate()
    {
        uint[] state = _state;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Word i reads the old words i + 1 and i + 397, or (past 227) the new word i - 227: eight
            // consecutive words never read each other, so they twist together.
            ref uint start = ref MemoryMarshal.GetArrayDataReference(state);
            const int lanes = 8;
            for (; i + lanes <= StateLength - ShiftSize; i += lanes)
                TwistEight(ref start, i, i + ShiftSize);
            for (; i < StateLength - ShiftSize; i++)
                state[i] = state[i + ShiftSize] ^ Twist(state[i], state[i + 1]);
            for (; i + lanes < StateLength; i += lanes)
                TwistEight(ref start, i, i + ShiftSize - StateLength);
        }
        for (; i < StateLength - ShiftSize; i++)
            state[i] = state[i + ShiftSize] ^ Twist(state[i], state[i + 1]);
        for (; i < StateLength - 1; i++)
            state[i] = state[i + ShiftSize - StateLength] ^ Twist(state[i], state[i + 1]);
        state[StateLength - 1] = state[ShiftSize - 1] ^ Twist(state[StateLength - 1], state[0]);
        _next = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TwistEight(ref uint state, int index, int shiftedIndex)
    {
        Vector256<uint> current = Vector256.LoadUnsafe(ref state, (nuint)index);
        Vector256<uint> following = Vector256.LoadUnsafe(ref state, (nuint)(index + 1));
        Vector256<uint> mixed = (current & Vector256.Create(UpperMask)) | (following & Vector256.Create(LowerMask));
        Vector256<uint> odd = Vector256<uint>.Zero - (following & Vector256<uint>.One);
        Vector256<uint> twisted = Vector256.ShiftRightLogical(mixed, 1) ^ (odd & Vector256.Create(MatrixA));
        (Vector256.LoadUnsafe(ref state, (nuint)shiftedIndex) ^ twisted).StoreUnsafe(ref state, (nuint)index);
    }

    private static uint Twist(uint current, uint following)
    {
        uint mixed = (current & UpperMask) | (following & LowerMask);
        return (mixed >> 1) ^ ((following & 1u) != 0 ? MatrixA : 0u);
    }
}
